package resiliencegrpc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/resiliencekit/resilience"
)

// ServerConfig holds the optional settings of the server interceptors.
// Every zero field means its documented default.
type ServerConfig struct {
	// Key returns the key of a call, which the keyed policies (a Group of
	// rate limiters, bulkheads or breakers) read with resilience.KeyFrom.
	// Nil means: the key the context already carries, or else the IP
	// address of the peer (PeerKey). MetadataKey keys by a metadata value.
	Key func(ctx context.Context, method string) string

	// Criticality, when not nil, reads the criticality callers send in
	// CriticalityKey into the call's context (resilience.CriticalityFrom),
	// where a bulkhead sheds the sheddable calls first. Its TrustPeer and
	// Max work as resilience.CriticalityConfig's Trust and Max, with the
	// call's context (peer.FromContext) in place of the request. A
	// malformed value is answered INVALID_ARGUMENT.
	Criticality *Criticality

	// Failure reports whether a handler's error with code is a failure
	// for the policies (a breaker counts it); a handler error with any
	// other code is an answer, a success for them. The caller gets the
	// handler's error either way. Nil means DefaultFailure.
	Failure func(code codes.Code) bool

	// Margin is taken off the deadline grpc-go gives a call (the caller's,
	// from grpc-timeout): the answer's way back. Zero means none.
	Margin time.Duration

	// MinLeft is the least time a call must have left, after Margin, for
	// the policies and the handler to start it: a call with less is
	// answered DEADLINE_EXCEEDED at once, as the caller would see it
	// anyway. A call without a deadline always starts. Zero means: only
	// a call with no time left at all is refused.
	MinLeft time.Duration

	// OnPanic, when not nil, is called with the value and stack of a
	// panic in a handler, after the policies saw it (a breaker counts it);
	// the call is then answered INTERNAL. Panics are always recovered: in
	// grpc-go a panic in a handler ends the process.
	OnPanic func(ctx context.Context, method string, value any, stack []byte)
}

func (c *ServerConfig) defaults() {
	if c.Margin < 0 || c.MinLeft < 0 {
		panic(fmt.Sprintf("resiliencegrpc: negative ServerConfig.Margin %v or MinLeft %v", c.Margin, c.MinLeft))
	}
	if c.Failure == nil {
		c.Failure = DefaultFailure
	}
	if c.Criticality != nil {
		if m := c.Criticality.Max; m < resilience.Sheddable || m > resilience.Critical {
			panic(fmt.Sprintf("resiliencegrpc: Criticality.Max %v", m))
		}
	}
}

// Criticality says how the server interceptors read the criticality of
// calls.
type Criticality struct {
	// TrustPeer, when not nil, reports whether the call's peer (its
	// context holds it: peer.FromContext) may set its criticality; the
	// metadata of any other call is ignored. Nil trusts every peer.
	TrustPeer func(ctx context.Context) bool

	// Max is the highest criticality a caller may claim; a higher claim
	// counts as Max. Zero is resilience.DefaultCriticality: callers may
	// only mark their calls sheddable unless Max says more.
	Max resilience.Criticality
}

// PeerKey returns the IP address of the call's peer, without its port,
// or "" when the context has no peer: the default key of the server
// interceptors.
func PeerKey(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	addr := p.Addr.String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// MetadataKey returns a ServerConfig.Key that keys each call by the first
// value of the incoming metadata key name (an API key, a tenant), or by
// the peer's address when the call has none.
func MetadataKey(name string) func(ctx context.Context, method string) string {
	return func(ctx context.Context, _ string) string {
		if vs := metadata.ValueFromIncomingContext(ctx, name); len(vs) > 0 && vs[0] != "" {
			return vs[0]
		}
		return PeerKey(ctx)
	}
}

// deadline applies Margin and MinLeft to the call's deadline: it returns
// the context to serve the call with (and its cancel, nil when unchanged),
// or a DEADLINE_EXCEEDED status.
func (c *ServerConfig) deadline(ctx context.Context) (context.Context, context.CancelFunc, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx, nil, nil
	}
	left := time.Until(dl) - c.Margin
	if left <= 0 || left < c.MinLeft {
		return ctx, nil, status.Errorf(codes.DeadlineExceeded, "resiliencegrpc: %v left of the caller's deadline, at least %v needed", max(left, 0).Round(time.Millisecond), c.MinLeft)
	}
	if c.Margin == 0 {
		return ctx, nil, nil
	}
	ctx, cancel := context.WithDeadline(ctx, dl.Add(-c.Margin))
	return ctx, cancel, nil
}

func (c *ServerConfig) prepare(ctx context.Context, method string) (context.Context, error) {
	if resilience.KeyFrom(ctx) == "" {
		key := ""
		if c.Key != nil {
			key = c.Key(ctx, method)
		} else {
			key = PeerKey(ctx)
		}
		ctx = resilience.WithKey(ctx, key)
	}
	if c.Criticality != nil {
		vs := metadata.ValueFromIncomingContext(ctx, CriticalityKey)
		if len(vs) > 0 && (c.Criticality.TrustPeer == nil || c.Criticality.TrustPeer(ctx)) {
			crit, err := resilience.ParseCriticality(vs[0])
			if err != nil {
				return ctx, status.Error(codes.InvalidArgument, err.Error())
			}
			ctx = resilience.WithCriticality(ctx, min(crit, c.Criticality.Max))
		}
	}
	return ctx, nil
}

// codeOf returns the gRPC code of an error a policy refused a call with,
// from its HTTP status (resilience.RejectionStatus): RESOURCE_EXHAUSTED
// for 429 (a rate limit), UNAVAILABLE for 503 (an open breaker, a full
// bulkhead), DEADLINE_EXCEEDED for a timeout, INVALID_ARGUMENT for 400;
// UNKNOWN for anything else.
func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	switch resilience.RejectionStatus(err) {
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	}
	return codes.Unknown
}

// serverError returns the error a server answers a call with, given the
// policies' outcome err: one that holds a status (the handler's) passes as
// it is; any other (a refusal, a timeout) becomes a status with its code,
// and its RetryAfter a pushback trailer.
func serverError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) {
		return err
	}
	if wait, ok := resilience.RetryAfter(err); ok && wait > 0 {
		ms := min(wait.Milliseconds()+1, math.MaxInt32) // round up: never earlier
		_ = grpc.SetTrailer(ctx, metadata.Pairs(PushbackKey, strconv.FormatInt(ms, 10)))
	}
	return status.Error(codeOf(err), err.Error())
}

// recovered is the error the policies see for a handler that panicked.
type recovered struct{ v any }

func (r *recovered) Error() string { return fmt.Sprintf("resiliencegrpc: handler panicked: %v", r.v) }

// UnaryServerInterceptor returns an interceptor that serves each unary
// call under the policies ps (composed as by resilience.Chain), configured
// by c: a server-side rate limiter, bulkhead, breaker or time limit around
// the handlers. The handler runs with the context the policies pass in.
// A call the policies refuse is answered RESOURCE_EXHAUSTED (a rate limit)
// or UNAVAILABLE (an open breaker, a full bulkhead), with the wait the
// refusal carries as a pushback trailer (PushbackKey), which this
// package's client interceptors and grpc-go's own retries honour. The
// handler's own errors are answered as they are; for the policies, a
// handler error whose code ServerConfig.Failure calls a failure is one (a
// breaker counts it), any other is an answer. It panics if
// ServerConfig.Criticality.Max is not a criticality.
func UnaryServerInterceptor(c ServerConfig, ps ...resilience.Policy) grpc.UnaryServerInterceptor {
	c.defaults()
	p := resilience.Chain(ps...)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, cancel, err := c.deadline(ctx)
		if err != nil {
			return nil, err
		}
		if cancel != nil {
			defer cancel()
		}
		if ctx, err = c.prepare(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		var resp any
		var herr error
		err = p.Do(ctx, func(ctx context.Context) error {
			var panicked bool
			resp, herr, panicked = c.run(ctx, info.FullMethod, func(ctx context.Context) (any, error) { return handler(ctx, req) })
			if panicked {
				return herr
			}
			if herr != nil && c.Failure(status.Code(herr)) {
				return herr
			}
			return nil
		})
		if err == nil {
			return resp, herr
		}
		return nil, serverError(ctx, err)
	}
}

// run calls h, turning a panic into an INTERNAL status after OnPanic saw
// it.
func (c *ServerConfig) run(ctx context.Context, method string, h func(context.Context) (any, error)) (resp any, err error, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			if c.OnPanic != nil {
				c.OnPanic(ctx, method, v, debug.Stack())
			}
			resp, err, panicked = nil, status.Error(codes.Internal, (&recovered{v}).Error()), true
		}
	}()
	resp, err = h(ctx)
	return resp, err, false
}

// StreamServerInterceptor returns an interceptor that serves each
// streaming call under the policies ps, configured by c as for
// UnaryServerInterceptor: the whole stream is one call for the policies,
// and the handler gets the policies' context through the stream's
// Context.
func StreamServerInterceptor(c ServerConfig, ps ...resilience.Policy) grpc.StreamServerInterceptor {
	c.defaults()
	p := resilience.Chain(ps...)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, cancel, err := c.deadline(ss.Context())
		if err != nil {
			return err
		}
		if cancel != nil {
			defer cancel()
		}
		if ctx, err = c.prepare(ctx, info.FullMethod); err != nil {
			return err
		}
		var herr error
		err = p.Do(ctx, func(ctx context.Context) error {
			var panicked bool
			_, herr, panicked = c.run(ctx, info.FullMethod, func(ctx context.Context) (any, error) {
				return nil, handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
			})
			if panicked || herr != nil && c.Failure(status.Code(herr)) {
				return herr
			}
			return nil
		})
		if err == nil {
			return herr
		}
		return serverError(ctx, err)
	}
}

// serverStream is a server stream whose Context is the policies'.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }
