package chaos

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrInjected is a ready-made error to inject with [Error] when the test
// does not care which error a dependency returns.
var ErrInjected = errors.New("chaos: injected fault")

// Fault is one failure to inject and the calls that get it.
//
// For each call, the [Injector] considers its faults in order. A fault
// applies when Match and then When accept the call (a nil condition accepts
// every call); When is asked only about calls that Match accepted, so
// "the first 3 POST requests" is
//
//	chaos.Fault{Match: chaos.Method("POST"), When: chaos.First(3), Action: chaos.Status(503)}
//
// An applied fault first waits Delay (honouring the call's context), then
// performs Action. Actions that end the call (an error, a status, a hang, a
// network error, a panic) stop the scan: later faults are not considered,
// and their conditions are not asked. Delays add up, and body faults
// combine, so one call can be slowed by one fault and fail by another.
//
// A Fault must have a Delay or an Action; [New] panics otherwise. Its
// conditions and delay keep their own state (a call count, a random
// sequence), so give every fault conditions of its own.
type Fault struct {
	// Match selects the calls the fault is about, usually with matchers
	// such as Method, Host, Path and Header. Nil matches every call.
	Match Condition
	// When picks which of the matched calls get the fault: a Rate, a
	// script such as First or Script, a window such as Between. Nil picks
	// every matched call.
	When Condition
	// Delay, when not nil, is how long to wait before the call goes on
	// (see Fixed, Uniform, Exponential). The wait ends early, with the
	// context's error, when the call's context is done.
	Delay Delay
	// Action is what happens after the delay. The zero Action does
	// nothing more: the call goes on to the real dependency.
	Action Action
}

// Kind names a kind of injected fault, for the counters of an [Injector]
// and the [Attempt]s of a [Recorder].
type Kind uint8

// The kinds of fault.
const (
	KindLatency      Kind = iota + 1 // a Delay was waited
	KindError                        // Error
	KindStatus                       // Status
	KindHang                         // Hang
	KindConnReset                    // ConnReset
	KindConnRefused                  // ConnRefused
	KindEOF                          // EOF
	KindDialTimeout                  // DialTimeout
	KindSlowBody                     // SlowBody
	KindTruncateBody                 // TruncateBody
	KindBodyError                    // BodyError
	KindPanic                        // Panic

	numKinds = int(KindPanic) + 1
)

var kindNames = [numKinds]string{
	"none", "latency", "error", "status", "hang", "conn-reset", "conn-refused",
	"eof", "dial-timeout", "slow-body", "truncate-body", "body-error", "panic",
}

// eventReasons are the Event.Reason words of the kinds: their names in
// snake_case.
var eventReasons = [numKinds]string{
	"none", "latency", "error", "status", "hang", "conn_reset", "conn_refused",
	"eof", "dial_timeout", "slow_body", "truncate_body", "body_error", "panic",
}

// String returns the kind's name, such as "latency" or "conn-reset".
func (k Kind) String() string {
	if int(k) < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Action is what a [Fault] does to a call: return an error or a status,
// hang, fail like a network, spoil the response body, or panic. Make one
// with the functions of this package; the zero Action does nothing.
//
// An Action is an immutable value, safe to share between faults and
// goroutines.
type Action struct {
	kind   Kind
	err    error       // Error, BodyError
	code   int         // Status
	header http.Header // Status
	n      int64       // TruncateBody, BodyError: bytes before the cut; SlowBody: chunk size
	every  time.Duration
	panicV any
}

// Kind returns the kind of the action, 0 for the zero Action.
func (a Action) Kind() Kind { return a.kind }

// body reports whether the action spoils a response body.
func (a Action) body() bool {
	switch a.kind {
	case KindSlowBody, KindTruncateBody, KindBodyError:
		return true
	}
	return false
}

// Error returns an action that fails the call with err: Do and Transport
// return err, and Handler answers with the status of err's HTTPStatus()
// method when it has one (500 otherwise) and a Retry-After header when err
// carries a wait (see resilience.RetryAfter). It panics when err is nil;
// use [ErrInjected] for "any error".
func Error(err error) Action {
	if err == nil {
		panic("chaos: Error with a nil error")
	}
	return Action{kind: KindError, err: err}
}

// Status returns an action that answers with an HTTP status and headers,
// given as name, value pairs:
//
//	chaos.Status(503, "Retry-After", "2")
//	chaos.Status(429, "Retry-After", "1", "X-RateLimit-Remaining", "0")
//
// Transport returns a response with that status and a short text body
// without sending the request (no response of the real server is ever
// read or left open); Handler writes it without calling the handler. Do
// returns a *resilience.StatusError with the code and the parsed
// Retry-After, the error resilience.Transport gives its policies for such
// a response. It panics for a code outside 200-599 or an odd number of
// header strings.
func Status(code int, header ...string) Action {
	if code < 200 || code > 599 {
		panic(fmt.Sprintf("chaos: Status code %d outside 200-599", code))
	}
	if len(header)%2 != 0 {
		panic("chaos: Status headers must be name, value pairs")
	}
	h := make(http.Header, len(header)/2)
	for i := 0; i < len(header); i += 2 {
		h.Add(header[i], header[i+1])
	}
	return Action{kind: KindStatus, code: code, header: h}
}

// Hang returns an action that blocks the call until its context is done
// and then fails it with the context's error, as a dependency that accepts
// a connection and never answers. Without a deadline or a cancel on the
// context, the call hangs for ever: that is the failure it simulates. In a
// Handler it waits for the request's context and returns having written
// nothing.
func Hang() Action { return Action{kind: KindHang} }

// ConnReset returns an action that fails the call as a connection reset by
// the peer: a *net.OpError (a net.Error) for a "read" over "tcp" whose
// cause is an *os.SyscallError wrapping syscall.ECONNRESET, the value
// net/http returns in production, so errors.Is(err, syscall.ECONNRESET)
// holds. In a Handler it aborts the response (see [Injector.Handler]).
func ConnReset() Action { return Action{kind: KindConnReset} }

// ConnRefused returns an action that fails the call as a refused
// connection: a *net.OpError for a "dial" whose cause wraps
// syscall.ECONNREFUSED. In a Handler it aborts the response.
func ConnRefused() Action { return Action{kind: KindConnRefused} }

// EOF returns an action that fails the call with io.EOF, what net/http
// returns when the server closed the connection before answering. In a
// Handler it aborts the response.
func EOF() Action { return Action{kind: KindEOF} }

// DialTimeout returns an action that fails the call as a connection that
// could not be made in time: a *net.OpError for a "dial" whose Timeout()
// is true and whose cause matches both os.ErrDeadlineExceeded and
// context.DeadlineExceeded, with the message "i/o timeout". It fails at
// once; pair it with a Delay in the same Fault to make the caller wait for
// it as a real dial timeout would. In a Handler it aborts the response.
func DialTimeout() Action { return Action{kind: KindDialTimeout} }

// SlowBody returns an action that delivers the response body at most chunk
// bytes at a time, pausing every before each chunk. A read waiting out a
// pause returns the context's error when the request's context is done,
// and an error when the body is closed. In Transport it wraps the real
// response body; in Handler it slows the handler's writes and flushes each
// chunk. Do ignores it. It panics when chunk < 1 or every < 0.
func SlowBody(chunk int, every time.Duration) Action {
	if chunk < 1 || every < 0 {
		panic("chaos: SlowBody needs chunk >= 1 and every >= 0")
	}
	return Action{kind: KindSlowBody, n: int64(chunk), every: every}
}

// TruncateBody returns an action that cuts the response body after n
// bytes, as a connection dropped mid-response: in Transport, reading past n
// bytes fails with io.ErrUnexpectedEOF (what net/http returns when a body
// is shorter than its Content-Length); in Handler, writes past n bytes are
// dropped and fail, and the response is aborted (see [Injector.Handler]).
// A body of n bytes or less is not affected. Do ignores it. It panics when
// n < 0.
func TruncateBody(n int64) Action {
	if n < 0 {
		panic("chaos: TruncateBody with n < 0")
	}
	return Action{kind: KindTruncateBody, n: n}
}

// BodyError returns an action that makes reading the response body fail
// with err after n bytes; a nil err means a connection reset (the same
// *net.OpError as ConnReset). In Handler, writes past n bytes fail with err
// and the response is aborted. Do ignores it. It panics when n < 0.
func BodyError(n int64, err error) Action {
	if n < 0 {
		panic("chaos: BodyError with n < 0")
	}
	return Action{kind: KindBodyError, n: n, err: err}
}

// Panic returns an action that panics with v, as a bug in the dependency
// or in your own handler would. It panics at once when v is nil.
func Panic(v any) Action {
	if v == nil {
		panic("chaos: Panic with a nil value")
	}
	return Action{kind: KindPanic, panicV: v}
}
