package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observe"
	"github.com/resiliencekit/resilience/ratelimit/internal/rules"
)

// DefaultMaxQueue is how many calls may wait for their tokens at once when
// [Config.MaxQueue] is 0 and MaxWait is not: a bound the same as the
// MaxQueue of the other packages of this module.
const DefaultMaxQueue = rules.DefaultMaxQueue

// DefaultMaxPause caps the pause a downstream's 429 imposes (see
// [Config.MaxPause]) when MaxPause is 0: five minutes. A Retry-After is
// honoured in full up to that, which covers what servers ask in practice
// (seconds to a minute or two); beyond it, one request every five minutes
// goes through to learn whether the pause is still wanted, which costs the
// server nothing, whereas a bogus or hostile Retry-After of a day (where
// Retry-After parsing caps it) would silence the host for that day.
const DefaultMaxPause = rules.DefaultMaxPause

// HeaderMode says which rate-limit response headers the Do method of a
// limiter writes under resilience.Handler (see [Config.Headers]).
type HeaderMode uint8

const (
	// DraftHeaders writes RateLimit and RateLimit-Policy, the fields of
	// draft-ietf-httpapi-ratelimit-headers. It is the default.
	DraftHeaders HeaderMode = iota
	// DraftAndLegacyHeaders writes the draft's fields and also
	// X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset
	// (seconds until the bucket is full), for clients that read the old,
	// unstandardised fields.
	DraftAndLegacyHeaders
	// NoHeaders writes no rate-limit header (resilience.Handler still
	// sends Retry-After with a refusal).
	NoHeaders
)

// Config holds the optional settings of a [Limiter] (and, embedded in
// [GroupConfig], of a [Group] and of the limiter of package
// ratelimit/redis). The zero value is the default: refuse at once when no
// token is there, pause up to [DefaultMaxPause] on a downstream's 429,
// charge one token per call, and write the draft's RateLimit headers under
// resilience.Handler.
//
// Every field follows the rule of the whole module: zero means the
// documented default, resilience.None says "none" where the default is
// not none, resilience.Forever says "as long as the caller's context
// allows", and any other negative value panics at construction.
type Config struct {
	// MaxWait is how long a call of Do or Wait may wait for its tokens.
	// Zero, the default (or resilience.None), refuses a call at once when
	// its tokens are not there: fail fast. A positive MaxWait queues it
	// instead, as long as the wait fits in MaxWait and in the deadline of
	// the call's context; otherwise the call is refused at once with the
	// wait it would have needed as RetryAfter. resilience.Forever waits as
	// long as the context allows.
	MaxWait time.Duration

	// MaxQueue bounds how many calls may wait at once (queue up to a
	// bound, then refuse with ReasonQueueFull); zero means
	// [DefaultMaxQueue]. It matters only when MaxWait is not zero:
	// a positive MaxQueue with a zero MaxWait is a contradiction and
	// panics, as does resilience.None (no queue) with a positive MaxWait.
	MaxQueue int

	// MaxPause caps the client-side pause: when the operation run by Do
	// fails with a 429 Too Many Requests that carries a wait (a
	// *resilience.StatusError from resilience.Transport with a
	// Retry-After, or with a RateLimit header showing no quota left; or
	// any error with HTTPStatus 429 and a resilience.RetryAfter that is
	// not a local rejection, see resilience.IsLocalRejection), the
	// limiter admits nothing more for that key for that wait, but never
	// for longer than MaxPause. Zero means [DefaultMaxPause];
	// resilience.None turns the pause off. The cap applies alike under
	// every limit, rate.Inf included.
	MaxPause time.Duration

	// Cost returns how many tokens a call of Do takes (an expensive search
	// 10, a cached page 1); nil means 1 for every call. Under
	// resilience.Handler, read the request with resilience.RequestFrom(ctx)
	// (it returns nil outside a Handler). A cost of 0 is free; negative
	// costs count as 0; a cost above the burst is refused with Reason
	// TooCostly. Cost is called once per call, with no lock held.
	Cost func(ctx context.Context) int

	// DryRun makes Do decide each call as usual (taking the tokens when
	// they are there) and report each call it would have refused to
	// OnLimited, but then run the operation anyway, at once: it never
	// waits, never refuses, and writes no rate-limit header. A way to try a
	// limit on live traffic before enforcing it. Allow, Wait and Take are
	// not affected.
	DryRun bool

	// Headers says which rate-limit headers Do writes into the response
	// header that resilience.ResponseHeader(ctx) returns (under
	// resilience.Handler; elsewhere there is none and nothing is written),
	// on the calls it admits and on those it refuses: the draft's RateLimit
	// and RateLimit-Policy by default ([DraftHeaders]), optionally the
	// legacy X-RateLimit-* too, or none. See [Decision.SetHeaders] for
	// their content. A limit of rate.Inf has no quota to announce and
	// writes none.
	Headers HeaderMode

	// Name names the limit in the RateLimit and RateLimit-Policy headers
	// ("" means "default" there) and for telemetry: the Name method of
	// the limiter returns it. For a [Group] it is the name of the
	// default limit; tiers carry their own Quota.Name.
	Name string

	// OnLimited, if not nil, is called with each refusal made by Do, Wait,
	// WaitN or Take (not Allow), and in dry-run with each call Do would
	// have refused, after the decision, with the call's context (under
	// resilience.Handler, resilience.RequestFrom(ctx) is the request) and
	// with no lock held. It must be safe for concurrent use and should
	// return quickly.
	OnLimited func(ctx context.Context, err *LimitedError)

	// Observer, when not nil, receives the limiter's events: an
	// EventReject for each refusal reported to OnLimited (after it; in
	// dry-run, each call Do would have refused), with the *LimitedError
	// as Err, its Reason as a word and the time the call waited before
	// the refusal as Duration, and an EventWait for each call of Do, Wait
	// or WaitN that waited for its tokens (or out a pause) and got them,
	// with the time it waited. Each is reported with the call's context,
	// on its goroutine, with no lock held. Zero means no observer:
	// nothing is reported and nothing is paid. In a [GroupConfig] (and
	// in the limiter of ratelimit/redis) its events carry the key as held
	// in Event.Key. See the package doc's "# Events" section for the
	// kinds and reasons.
	Observer resilience.Observer
}

// settings is a Config resolved: defaults applied, checked.
type settings struct {
	rules.Waits
	cost      func(context.Context) int
	dryRun    bool
	headers   HeaderMode
	onLimited func(context.Context, *LimitedError)
	refused   *refusalCounter
	observer  resilience.Observer
	name      string // Config.Name: Event.Name
}

func (c Config) resolve() settings {
	if c.Headers > NoHeaders {
		panic(fmt.Sprintf("ratelimit: unknown HeaderMode %d", c.Headers))
	}
	observe.Check("ratelimit", c.Observer)
	return settings{
		Waits:     rules.ResolveWaits("ratelimit", c.MaxWait, c.MaxQueue, c.MaxPause),
		cost:      c.Cost,
		dryRun:    c.DryRun,
		headers:   c.Headers,
		onLimited: c.OnLimited,
		observer:  c.Observer,
		name:      c.Name,
		refused:   new(refusalCounter),
	}
}

// costOf returns the tokens a call of Do takes.
func (s *settings) costOf(ctx context.Context) int {
	if s.cost == nil {
		return 1
	}
	return max(0, s.cost(ctx))
}

// limited counts the refusal e of a call of key (the caller's; "" outside
// a Group) that waited waited before it, and reports it to OnLimited and
// the Observer. No lock is held.
func (s *settings) limited(ctx context.Context, e *LimitedError, key string, waited time.Duration) {
	s.refused.add(e.reason)
	if s.onLimited != nil {
		s.onLimited(ctx, e)
	}
	if s.observer != nil {
		s.observer.Observe(ctx, resilience.Event{
			Kind: resilience.EventReject, Policy: "ratelimit", Name: s.name, Key: bound(key),
			Reason: rules.EventReason(uint8(e.reason)), Err: e, Duration: waited,
		})
	}
}

// waited reports to the Observer a call of key that waited d for its
// tokens and got them. The caller checked that there is an Observer.
func (s *settings) waited(ctx context.Context, key string, d time.Duration) {
	s.observer.Observe(ctx, resilience.Event{
		Kind: resilience.EventWait, Policy: "ratelimit", Name: s.name, Key: bound(key), Duration: d,
	})
}
