package resiliencegrpc

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/resiliencekit/resilience"
)

// PushbackKey is the trailer in which a server tells a client when to try
// again (gRFC A6): whole milliseconds; a negative or malformed value means
// "do not retry".
const PushbackKey = "grpc-retry-pushback-ms"

// CriticalityKey is the metadata key that carries a call's criticality
// ("sheddable", "default" or "critical"), as resilience.CriticalityHeader
// does over HTTP.
const CriticalityKey = "request-criticality"

// DefaultRetryable reports whether code is UNAVAILABLE, the one code gRFC
// A6 retries by default: the default of ClientConfig.Retryable.
func DefaultRetryable(code codes.Code) bool { return code == codes.Unavailable }

// DefaultFailure reports whether code says the server failed rather than
// answered: UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
// INTERNAL, UNAVAILABLE and DATA_LOSS. It is the default of
// ClientConfig.Failure. The other codes (NOT_FOUND, INVALID_ARGUMENT,
// PERMISSION_DENIED, ...) are answers: the dependency works.
func DefaultFailure(code codes.Code) bool {
	switch code {
	case codes.Unknown, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted,
		codes.Internal, codes.Unavailable, codes.DataLoss:
		return true
	}
	return false
}

// ClientConfig holds the optional settings of the client interceptors.
// Every zero field means its documented default.
type ClientConfig struct {
	// Failure reports whether a call that ended with code failed, for the
	// policies: a breaker counts it, an adaptive bulkhead may lower its
	// limit. A call that ended with any other code is an answer: the
	// policies see a success and the caller gets the status as its error.
	// Nil means DefaultFailure.
	Failure func(code codes.Code) bool

	// Retryable reports whether a failed call with code may be tried
	// again: the failures it refuses are marked permanent
	// (resilience.Permanent), so a retry policy returns them at once.
	// Nil means DefaultRetryable (UNAVAILABLE only, as gRFC A6); add
	// codes your methods make safe to retry.
	Retryable func(code codes.Code) bool

	// SendCriticality, when true, sends the criticality the call's
	// context carries (resilience.WithCriticality) in CriticalityKey.
	SendCriticality bool
}

func (c *ClientConfig) defaults() {
	if c.Failure == nil {
		c.Failure = DefaultFailure
	}
	if c.Retryable == nil {
		c.Retryable = DefaultRetryable
	}
}

// CallError is the error the policies see for a call that failed: the
// gRPC status error, with the server's pushback as its RetryAfter. It
// unwraps to the status error, and status.FromError and status.Code find
// the status through it.
type CallError struct {
	err  error
	wait time.Duration
}

func (e *CallError) Error() string { return e.err.Error() }

// Unwrap returns the status error.
func (e *CallError) Unwrap() error { return e.err }

// GRPCStatus returns the call's status.
func (e *CallError) GRPCStatus() *status.Status { return status.Convert(e.err) }

// RetryAfter returns the server's pushback; 0 when it sent none.
func (e *CallError) RetryAfter() time.Duration { return e.wait }

// classify turns the outcome of one attempt into what the policies see:
// nil for a success or an answer (stored in *answer), a *CallError for a
// failure, marked permanent when it may not be retried.
func (c *ClientConfig) classify(err error, trailer metadata.MD, answer *error) error {
	*answer = nil
	if err == nil {
		return nil
	}
	code := status.Code(err)
	if !c.Failure(code) {
		*answer = err
		return nil
	}
	e := &CallError{err: err}
	retryable := c.Retryable(code)
	if vs := trailer.Get(PushbackKey); len(vs) > 0 {
		ms, perr := strconv.Atoi(vs[0])
		if perr != nil || ms < 0 {
			retryable = false // the server says: do not retry
		} else {
			e.wait = time.Duration(ms) * time.Millisecond
		}
	}
	if !retryable {
		return resilience.Permanent(e)
	}
	return e
}

// rejection is a call the policies refused before it was sent (an open
// breaker, a full bulkhead, a local rate limit): it carries a gRPC status
// for the caller, UNAVAILABLE or RESOURCE_EXHAUSTED, and unwraps to the
// policy's error.
type rejection struct {
	err  error
	code codes.Code
}

func (r *rejection) Error() string              { return r.err.Error() }
func (r *rejection) Unwrap() error              { return r.err }
func (r *rejection) GRPCStatus() *status.Status { return status.New(r.code, r.err.Error()) }

// callerError returns the error Do's outcome err gives the caller: a
// status error wherever the policies' error holds none, so that
// status.Code tells the caller what happened, and errors.Is still finds
// the policy's sentinel.
func callerError(err error) error {
	if err == nil {
		return nil
	}
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) {
		return err
	}
	return &rejection{err: err, code: codeOf(err)}
}

// keyed returns ctx with the target of cc as the key of keyed policies,
// unless ctx carries a key already.
func keyed(ctx context.Context, cc *grpc.ClientConn) context.Context {
	if resilience.KeyFrom(ctx) != "" || cc == nil {
		return ctx
	}
	return resilience.WithKey(ctx, cc.Target())
}

// outgoing adds the criticality of ctx to its outgoing metadata, when c
// says so.
func (c *ClientConfig) outgoing(ctx context.Context) context.Context {
	if !c.SendCriticality {
		return ctx
	}
	crit, ok := resilience.CriticalityFrom(ctx)
	if !ok {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, CriticalityKey, crit.String())
}

// UnaryClientInterceptor returns an interceptor that runs each unary call
// under the policies ps (composed as by resilience.Chain), configured by
// c: each attempt is one call of the invoker with the context the
// policies pass in (a time limit among them becomes the attempt's gRPC
// deadline). Failures (ClientConfig.Failure) are what the policies see as
// failures; codes that are not retryable (ClientConfig.Retryable) and a
// server's "do not retry" pushback end a retry at once, and a pushback
// in milliseconds is the least a retry waits. Keyed policies are keyed by
// the connection's target unless the context carries a key.
//
// A call the policies refuse gets an error that status.Code reads as
// UNAVAILABLE (an open breaker, a full bulkhead) or RESOURCE_EXHAUSTED (a
// rate limit), and that matches the policy's sentinel with errors.Is; a
// call that failed gets its last attempt's status error.
func UnaryClientInterceptor(c ClientConfig, ps ...resilience.Policy) grpc.UnaryClientInterceptor {
	c.defaults()
	p := resilience.Chain(ps...)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx = keyed(ctx, cc)
		var answer error
		err := p.Do(ctx, func(ctx context.Context) error {
			var trailer metadata.MD
			callOpts := make([]grpc.CallOption, len(opts), len(opts)+1)
			copy(callOpts, opts)
			err := invoker(c.outgoing(ctx), method, req, reply, cc, append(callOpts, grpc.Trailer(&trailer))...)
			return c.classify(err, trailer, &answer)
		})
		if err == nil {
			return answer
		}
		return callerError(err)
	}
}

// maxReplay bounds the messages a client stream keeps to send again when
// it is retried; a stream that sent more before its first message arrived
// is not retried.
const maxReplay = 64

// StreamClientInterceptor returns an interceptor that runs streaming calls
// under the policies ps, configured by c as for UnaryClientInterceptor. A
// stream is retried only before its first message is received: the
// policies run around opening it, and again around its first RecvMsg when
// that fails (the stream is opened anew and the messages sent so far, at
// most 64 and the same values, are sent again). Once a message has
// arrived, errors reach the caller as they are.
//
// The stream lives on after the policies return, so it runs with the
// caller's context, not the one the policies pass to each attempt: a time
// limit among ps bounds opening the stream (and the first message), not
// its life (use the caller's deadline for that), and a bulkhead bounds how
// many streams are being opened at once, not how many are open.
func StreamClientInterceptor(c ClientConfig, ps ...resilience.Policy) grpc.StreamClientInterceptor {
	c.defaults()
	p := resilience.Chain(ps...)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		ctx = keyed(ctx, cc)
		s := &clientStream{c: &c, p: p, ctx: ctx, desc: desc, cc: cc, method: method, streamer: streamer, opts: opts}
		var answer error
		err := p.Do(ctx, func(context.Context) error {
			cs, err := streamer(c.outgoing(ctx), desc, cc, method, opts...)
			if err != nil {
				return c.classify(err, nil, &answer)
			}
			s.cs = cs
			return nil
		})
		if err == nil && answer != nil {
			err = answer
		} else if err != nil {
			err = callerError(err)
		}
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// clientStream is a client stream that can be opened again until its
// first message arrives.
type clientStream struct {
	c        *ClientConfig
	p        resilience.Policy
	ctx      context.Context
	desc     *grpc.StreamDesc
	cc       *grpc.ClientConn
	method   string
	streamer grpc.Streamer
	opts     []grpc.CallOption

	mu       sync.Mutex // guards cs against a reopen while SendMsg runs
	cs       grpc.ClientStream
	sent     []any
	closed   bool // CloseSend was called
	received bool // a message (or the end) arrived: no more retries
	overflow bool // more than maxReplay messages sent before it
}

func (s *clientStream) stream() grpc.ClientStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cs
}

func (s *clientStream) Header() (metadata.MD, error) { return s.stream().Header() }
func (s *clientStream) Trailer() metadata.MD         { return s.stream().Trailer() }
func (s *clientStream) Context() context.Context     { return s.stream().Context() }

func (s *clientStream) CloseSend() error {
	s.mu.Lock()
	s.closed = true
	cs := s.cs
	s.mu.Unlock()
	return cs.CloseSend()
}

func (s *clientStream) SendMsg(m any) error {
	s.mu.Lock()
	if !s.received {
		if len(s.sent) < maxReplay {
			s.sent = append(s.sent, m)
		} else {
			s.overflow = true
		}
	}
	cs := s.cs
	s.mu.Unlock()
	return cs.SendMsg(m)
}

func (s *clientStream) RecvMsg(m any) error {
	s.mu.Lock()
	first := !s.received
	retry := first && !s.overflow
	cs := s.cs
	s.mu.Unlock()
	if !first {
		return cs.RecvMsg(m)
	}
	err := cs.RecvMsg(m)
	if err == nil || err == io.EOF || !retry {
		s.done()
		return err
	}
	// The stream failed before its first message: what the policies make
	// of that failure decides whether it is opened again.
	var answer error
	tried := false
	perr := s.p.Do(s.ctx, func(context.Context) error {
		if tried {
			if err = s.reopen(); err != nil {
				return s.c.classify(err, nil, &answer)
			}
			s.mu.Lock()
			cs = s.cs
			s.mu.Unlock()
			err = cs.RecvMsg(m)
			if err == nil || err == io.EOF {
				return nil
			}
		}
		tried = true
		return s.c.classify(err, cs.Trailer(), &answer)
	})
	s.done()
	switch {
	case perr != nil:
		return callerError(perr)
	case answer != nil:
		return answer
	}
	return err // nil or io.EOF
}

// done ends the window in which the stream may be retried.
func (s *clientStream) done() {
	s.mu.Lock()
	s.received, s.sent = true, nil
	s.mu.Unlock()
}

// reopen opens the stream anew and sends it what was sent so far.
func (s *clientStream) reopen() error {
	cs, err := s.streamer(s.c.outgoing(s.ctx), s.desc, s.cc, s.method, s.opts...)
	if err != nil {
		return err
	}
	s.mu.Lock()
	sent, closed := s.sent, s.closed
	s.cs = cs
	s.mu.Unlock()
	for _, m := range sent {
		if err := cs.SendMsg(m); err != nil {
			if err == io.EOF { // the stream ended: its status is at RecvMsg
				break
			}
			return err
		}
	}
	if closed {
		return cs.CloseSend()
	}
	return nil
}
