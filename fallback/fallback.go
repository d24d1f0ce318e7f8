package fallback

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observe"
)

// DefaultMaxKeys is how many keys a [Fallback] with Config.Stale
// remembers a value for, when Config.MaxKeys is 0.
const DefaultMaxKeys = 1024

// Config holds the optional settings of [New] and [NewFunc]. Every zero
// field means its documented default, so the zero value is ready to use:
// every failure but the caller's own cancellation is answered, nothing is
// remembered, no hook.
type Config struct {
	// Name names the fallback for telemetry (logs, metrics, traces); see
	// [Fallback.Name]. Zero means "".
	Name string

	// Match reports whether the fallback answers a failure of op: it is
	// called after op returned err (not nil) with the context Do received.
	// Nil means [DefaultMatch]: every error, unless the caller gave up.
	// A Match of your own replaces that rule entirely; call DefaultMatch
	// from it to keep it. A panic in op is never a failure to answer: it
	// goes on to the caller and Match is not called.
	Match func(ctx context.Context, err error) bool

	// Stale, when positive, makes the fallback remember the last good
	// value of each key (see Key) and answer a failure with it first,
	// as long as it is no older than Stale; sub runs only when there is
	// no such value. Only op's own values are remembered: a substitute
	// (sub's value, or a stale one) never is. Zero means nothing is
	// remembered; resilience.Forever means a value is good at any age
	// (until MaxKeys pushes it out). Other negative values panic.
	//
	// The value is remembered as it is, not copied: a value that holds a
	// pointer, slice or map is handed to every later caller answered with
	// it, who must not modify it. A Fallback with Stale must not run
	// inside a hedge (see the package doc).
	Stale time.Duration

	// MaxKeys bounds the keys a value is remembered for; when a new key
	// comes in with all of them held, the least recently stored or used
	// one is dropped. Keys are bounded in bytes too: a key longer than 128
	// bytes is held as "sha256:" and the hex SHA-256 of it (71 bytes).
	// Zero means DefaultMaxKeys. It must be left zero without Stale;
	// negative values panic.
	MaxKeys int

	// Key returns the key of a call, under which its good value is
	// remembered and looked up. Nil means resilience.KeyFrom: without a
	// key set with resilience.WithKey every call shares one value, which
	// is right for a fallback of one dependency that answers one question
	// ("the last exchange rate") and wrong for one answering several. It
	// must be left nil without Stale.
	Key func(ctx context.Context) string

	// OnFallback, when not nil, is called for each failure that Match
	// accepted, once the fallback answered it, with the context Do
	// received, op's error and how it was answered. It is called on the
	// caller's goroutine, with no lock held, before Do returns.
	OnFallback func(ctx context.Context, err error, k Kind)

	// Observer, when not nil, is told of each failure that Match accepted,
	// once the fallback answered it, as a resilience.Event of kind
	// EventFallback with Policy "fallback" and Name: Reason says how it
	// was answered (its Kind in snake_case: "value", "stale", "failed",
	// "no_value" or "no_result") and Err is op's error, the failure
	// answered; see "Events" in the package documentation. It is called
	// where OnFallback is, just after it: on the caller's goroutine, with
	// no lock held, before Do returns. Zero means no observer: nothing is
	// reported and nothing is paid.
	Observer resilience.Observer
}

// Kind says how a [Fallback] answered a failure it matched. An
// EventFallback tells it in its Reason, in snake_case: "value", "stale",
// "failed", "no_value", "no_result".
type Kind int

const (
	// KindValue: with a value of sub (New), of respond (NewHTTP), or by
	// the alternate call of NewFunc, which succeeded. Do returned nil.
	KindValue Kind = iota + 1
	// KindStale: with the last good value of the call's key. Do returned
	// nil.
	KindStale
	// KindFailed: sub (alt, respond) failed; Do returned a
	// [*SubstituteError] that wraps its error and op's.
	KindFailed
	// KindNoValue: nothing to answer with (Stale without a value young
	// enough, and no sub); Do returned op's error.
	KindNoValue
	// KindNoResult: the context held no call of resilience.Do with the
	// fallback's type to answer into; Do returned an error matching
	// [ErrNoResult] and op's error.
	KindNoResult
)

const numKinds = KindNoResult + 1

// reasons are the Event.Reason of each Kind.
var reasons = [numKinds]string{
	KindValue:    "value",
	KindStale:    "stale",
	KindFailed:   "failed",
	KindNoValue:  "no_value",
	KindNoResult: "no_result",
}

// String returns the name of k: "value", "stale", "failed", "no value" or
// "no result".
func (k Kind) String() string {
	switch k {
	case KindValue:
		return "value"
	case KindStale:
		return "stale"
	case KindFailed:
		return "failed"
	case KindNoValue:
		return "no value"
	case KindNoResult:
		return "no result"
	}
	return fmt.Sprintf("fallback.Kind(%d)", int(k))
}

// Metrics counts what a [Fallback] has done since it was made. The
// failure path counts; a call whose op succeeds counts nothing unless
// Stale is set (then its value is stored, and Stored counts it), so the
// counters cost the success path nothing.
type Metrics struct {
	// Failures counts the calls whose op returned an error (a panic is
	// not one). Every failure is in Unmatched or in one of Fallbacks.
	Failures uint64
	// Unmatched counts the failures that Match turned down (by default,
	// those of callers who gave up): Do returned them as they were.
	Unmatched uint64
	// Fallbacks counts the failures Match accepted, indexed by how they
	// were answered: Fallbacks[KindStale] is how many got a stale value.
	// Fallbacks[0] is always zero.
	Fallbacks [KindNoResult + 1]uint64
	// Stored counts the good values remembered, with Stale: every success
	// of op under New, every complete response under NewHTTP.
	Stored uint64
	// Evicted counts the remembered values dropped to make room within
	// MaxKeys (and MaxBytes, for responses). Values found too old are
	// dropped without being counted here.
	Evicted uint64
	// Keys is how many values are remembered now.
	Keys int
	// Bytes is how many bytes they hold now, as the bounds count them:
	// their keys, and for responses their bodies and headers. A value of
	// New counts only its key.
	Bytes int64
}

// Fallback answers the failures of a call with a substitute of type T: a
// value of its own, the last good value, or the outcome of an alternate
// call. Make one with [New], [NewFunc] or [NewHTTP]; the zero value is not
// usable. A Fallback is a resilience.Policy and is safe for concurrent use
// by many goroutines.
//
// T is the type of the substitute, not of the policy's calls: the value
// reaches the caller through the call of resilience.Do[T] (or
// resilience.Transport, for T *http.Response) that Do runs under. Used
// with plain Policy.Do, or under a Do of another type, a Fallback of New
// or NewHTTP cannot answer: Do returns an error matching [ErrNoResult].
type Fallback[T any] struct {
	name   string
	match  func(context.Context, error) bool
	sub    func(context.Context, error) (T, error)
	direct bool // NewFunc: alt writes its own result; nothing to substitute
	// needsRequest: NewHTTP, which answers only under resilience.Transport.
	needsRequest bool
	stale        store[T]
	discard      func(T) // for a substitute that could not be handed over
	onFallback   func(context.Context, error, Kind)
	observer     resilience.Observer
	typeName     string // T, for the message of ErrNoResult

	failures  atomic.Uint64
	unmatched atomic.Uint64
	counts    [numKinds]atomic.Uint64
}

var _ resilience.Policy = (*Fallback[int])(nil)

// store is where a Fallback with Stale remembers its good values.
type store[T any] interface {
	// remember stores the value of the call in ctx, whose op succeeded.
	remember(ctx context.Context)
	// recall returns the good value of the call's key, when there is one
	// young enough.
	recall(ctx context.Context) (T, bool)
	metrics(m *Metrics)
}

// DefaultMatch is the rule of a nil Config.Match: it matches every error
// unless the caller gave up — unless ctx is done by the caller's own cancel
// or deadline, as resilience.CallerDone says. Nobody waits for a substitute
// then, and answering would tell a caller that cancelled a call that it
// succeeded. A time limit that a policy set is not the caller's: with a
// timelimit inside the fallback, its expiry is answered. (An error of
// op's that matches context.Canceled while ctx lives is a failure like
// any other: op's own context ended, the caller's did not.)
func DefaultMatch(ctx context.Context, err error) bool {
	return !resilience.CallerDone(ctx)
}

// Value returns a sub for [New] that answers every failure with v.
func Value[T any](v T) func(ctx context.Context, err error) (T, error) {
	return func(context.Context, error) (T, error) { return v, nil }
}

// New returns a Fallback that answers the failures Match accepts with the
// value sub returns, configured by c. sub gets the context Do received and
// op's error; it may be a static value ([Value]), a value made from the
// error, or an alternate call (a secondary endpoint, a cache) made with
// ctx. When sub returns an error, Do returns a [*SubstituteError] that
// wraps it and op's error.
//
// With c.Stale, a failure is answered with the last good value of its key
// first, and sub runs only when there is none young enough; sub may then
// be nil, and a failure with no such value returns op's error.
//
// New panics with a "fallback: ..." message if sub is nil without Stale,
// if c is invalid (see [Config]; a typed nil Observer is too), or if T is
// *http.Response with Stale (a response's body is its caller's, and cannot
// be remembered this way: use [NewHTTP]).
func New[T any](sub func(ctx context.Context, err error) (T, error), c Config) *Fallback[T] {
	if sub == nil && c.Stale == 0 {
		panic("fallback: New with a nil sub and no Stale: nothing to answer with")
	}
	f := newFallback[T](c.Name, c.Match, c.OnFallback, c.Observer)
	f.sub = sub
	checkStale(c.Stale, c.MaxKeys, c.Key != nil)
	if c.Stale != 0 {
		var zero T
		if _, ok := any(zero).(*http.Response); ok {
			panic("fallback: New[*http.Response] with Stale: a response's body belongs to its caller; use NewHTTP")
		}
		key := c.Key
		if key == nil {
			key = resilience.KeyFrom
		}
		f.stale = newValueStore[T](c.Stale, c.MaxKeys, key)
	}
	return f
}

// NewFunc returns a Fallback for plain Policy.Do, whose alternate call
// alt delivers its own result (through a variable of the caller's, say):
// a failure that Match accepts is answered by calling alt with the context
// Do received and op's error, and Do returns nil when alt does. When alt
// fails, Do returns a [*SubstituteError] that wraps alt's error and op's.
// No value travels through resilience.Do, so the Fallback never returns
// [ErrNoResult]; its type parameter is struct{} and means nothing.
//
// NewFunc panics with a "fallback: ..." message if alt is nil, if c is
// invalid, or if c has Stale (or MaxKeys, or Key): there is no value to
// remember.
func NewFunc(alt func(ctx context.Context, err error) error, c Config) *Fallback[struct{}] {
	if alt == nil {
		panic("fallback: NewFunc with a nil alt")
	}
	if c.Stale != 0 || c.MaxKeys != 0 || c.Key != nil {
		panic("fallback: NewFunc with Stale, MaxKeys or Key: alt writes its own result, there is no value to remember")
	}
	f := newFallback[struct{}](c.Name, c.Match, c.OnFallback, c.Observer)
	f.sub = func(ctx context.Context, err error) (struct{}, error) { return struct{}{}, alt(ctx, err) }
	f.direct = true
	return f
}

func newFallback[T any](name string, match func(context.Context, error) bool, on func(context.Context, error, Kind), o resilience.Observer) *Fallback[T] {
	if match == nil {
		match = DefaultMatch
	}
	observe.Check("fallback", o)
	return &Fallback[T]{
		name:       name,
		match:      match,
		onFallback: on,
		observer:   o,
		typeName:   reflect.TypeFor[T]().String(),
	}
}

// checkStale panics on an invalid combination of the stale settings.
func checkStale(stale time.Duration, maxKeys int, key bool) {
	switch {
	case stale < 0 && stale != resilience.Forever:
		panic(fmt.Sprintf("fallback: negative Stale %v", stale))
	case maxKeys < 0:
		panic(fmt.Sprintf("fallback: negative MaxKeys %d", maxKeys))
	case stale == 0 && maxKeys != 0:
		panic("fallback: MaxKeys without Stale: nothing is remembered")
	case stale == 0 && key:
		panic("fallback: Key without Stale: nothing is remembered")
	}
}

// Name returns Config.Name: the name of the fallback for telemetry.
func (f *Fallback[T]) Name() string { return f.name }

// Do calls op once with ctx. When op succeeds, Do returns nil (and, with
// Stale, remembers the call's value). When op fails and Match accepts the
// failure, Do answers it — with the last good value of the call's key
// (Stale), or else with sub's value — by handing the value to the call of
// resilience.Do[T] in ctx (resilience.Substitute) and returning nil. See
// [Kind] for the other outcomes: sub's failure, nothing to answer with, no
// call to answer into. A failure Match turns down is returned unchanged.
//
// A panic in op goes on to the caller unchanged, unanswered. Do keeps the
// contract of resilience.Policy, with the exception that is the point of a
// fallback: a failure it answers is not returned (rule 3).
func (f *Fallback[T]) Do(ctx context.Context, op func(context.Context) error) error {
	err := op(ctx)
	if err == nil {
		if f.stale != nil {
			f.stale.remember(ctx)
		}
		return nil
	}
	return f.answer(ctx, err)
}

// answer handles a failure of op.
func (f *Fallback[T]) answer(ctx context.Context, err error) error {
	f.failures.Add(1)
	if !f.match(ctx, err) {
		f.unmatched.Add(1)
		return err
	}
	k, out := f.substitute(ctx, err)
	f.counts[k].Add(1)
	if f.onFallback != nil {
		f.onFallback(ctx, err, k)
	}
	if f.observer != nil {
		f.observer.Observe(ctx, resilience.Event{
			Kind: resilience.EventFallback, Policy: "fallback", Name: f.name, Reason: reasons[k], Err: err,
		})
	}
	return out
}

// substitute answers a matched failure and says how.
func (f *Fallback[T]) substitute(ctx context.Context, err error) (Kind, error) {
	if f.needsRequest && resilience.RequestFrom(ctx) == nil {
		return KindNoResult, f.noResult(err)
	}
	if f.stale != nil {
		if v, ok := f.stale.recall(ctx); ok {
			if resilience.Substitute(ctx, v) {
				return KindStale, nil
			}
			f.drop(v)
			return KindNoResult, f.noResult(err)
		}
	}
	if f.sub == nil {
		return KindNoValue, err
	}
	v, serr := f.sub(ctx, err)
	switch {
	case serr != nil:
		return KindFailed, &SubstituteError{Err: serr, Cause: err}
	case f.direct || resilience.Substitute(ctx, v):
		return KindValue, nil
	}
	f.drop(v)
	return KindNoResult, f.noResult(err)
}

func (f *Fallback[T]) drop(v T) {
	if f.discard != nil {
		f.discard(v)
	}
}

func (f *Fallback[T]) noResult(err error) error {
	return &noResultError{typeName: f.typeName, err: err}
}

// Metrics returns the counters of f. They are read one by one, not as one
// atomic snapshot: under concurrent calls, two of them may be a call apart.
func (f *Fallback[T]) Metrics() Metrics {
	m := Metrics{Failures: f.failures.Load(), Unmatched: f.unmatched.Load()}
	for k := range m.Fallbacks {
		m.Fallbacks[k] = f.counts[k].Load()
	}
	if f.stale != nil {
		f.stale.metrics(&m)
	}
	return m
}
