package breaker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observe"
)

// Defaults for the zero fields of [Config].
const (
	// DefaultConsecutiveFailures is the trip rule when no window is set:
	// five failures in a row open the breaker.
	DefaultConsecutiveFailures = 5
	// DefaultFailureRate is the failure rate that opens a breaker with a
	// window (count or time).
	DefaultFailureRate = 0.5
	// DefaultSlowCallRate is the slow-call rate that opens a breaker with a
	// window and a SlowCall threshold: every call in the window was slow.
	DefaultSlowCallRate = 1.0
	// DefaultMinCalls is how many calls a window must hold before its rates
	// can open the breaker (capped at WindowCalls for a count window).
	DefaultMinCalls = 10
	// DefaultBuckets is how many buckets a time window is cut into.
	DefaultBuckets = 10
	// DefaultOpenDuration is how long a breaker stays open before it
	// probes the dependency again.
	DefaultOpenDuration = 60 * time.Second
	// DefaultOpenMultiplier is the growth factor of the open duration
	// across re-opens, when MaxOpenDuration enables growth.
	DefaultOpenMultiplier = 2.0
	// DefaultHealthCheckTimeout bounds one run of Config.HealthCheck.
	DefaultHealthCheckTimeout = 10 * time.Second

	// MaxWindowCalls bounds a count window; it keeps up to 8 bytes per
	// call of the window for failures (and as many for slow calls).
	MaxWindowCalls = 1 << 16
	// MaxBuckets bounds the buckets of a time window.
	MaxBuckets = 1 << 12
)

// Outcome is how a finished call counts for a breaker: see Config.Classify.
type Outcome uint8

const (
	// Success counts the call as a success.
	Success Outcome = iota
	// Failure counts the call as a failure.
	Failure
	// Ignore leaves the call out of every count and rate, as if it had
	// not been made. An ignored probe frees its half-open slot.
	Ignore
)

// String returns "success", "failure" or "ignore".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignore:
		return "ignore"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// DefaultClassify is the classification of a breaker without
// Config.Classify: nil is a [Success], an error matching context.Canceled
// is ignored (the call was cancelled; it says nothing about the
// dependency), and every other error is a [Failure]. Custom classifiers
// can fall back to it. The calls that a breaker ignores before any
// classifier is asked are listed at Config.Classify.
func DefaultClassify(err error) Outcome {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, context.Canceled):
		return Ignore
	}
	return Failure
}

// Config configures a [Breaker]. Every zero field means its documented
// default, so Config{} opens after 5 consecutive failures, stays open for
// 60 s, then lets one probe through and closes when it succeeds. The
// fields whose zero value turns a rule off (a window, SlowCall,
// MaxOpenDuration, OpenJitter, HealthCheck) have no rule as their default.
//
// # Trip rules
//
// With no window set, the breaker counts consecutive failures. Set
// WindowCalls for a count window (the last N calls) or WindowDuration for a
// time window (the last d, cut into Buckets buckets), not both; the breaker
// then opens when, with at least MinCalls calls in the window, the failure
// rate reaches FailureRate or, when SlowCall is set, the share of calls
// slower than SlowCall reaches SlowCallRate. ConsecutiveFailures set
// together with a window adds its rule to the rates.
//
// [New] panics on values that make no sense: negative numbers, rates
// outside [0, 1], both windows, rate knobs without a window, a
// MaxOpenDuration below OpenDuration.
//
// A Config is a plain value; copy it freely.
type Config struct {
	// Name names the breaker for telemetry (logs, metrics, traces); see
	// [Breaker.Name]. Zero means "".
	Name string

	// ConsecutiveFailures opens the breaker after this many failures in a
	// row (ignored calls do not break a run; a success does). Zero means
	// DefaultConsecutiveFailures when no window is set, and no such rule
	// when one is (where resilience.None says the same). Without a window
	// it is the only trip rule, so None panics there.
	ConsecutiveFailures int

	// WindowCalls makes the rates count over the last WindowCalls calls
	// (a count window). At most MaxWindowCalls.
	WindowCalls int
	// WindowDuration makes the rates count over the calls of the last
	// WindowDuration (a time window), kept in Buckets buckets: a bucket's
	// calls leave the window together, when the bucket gets too old. So
	// that successes need not read the clock, a timer moves the buckets
	// along while calls come in; it stops by itself after a bucket with no
	// calls.
	WindowDuration time.Duration
	// Buckets is how many buckets a time window has. Zero means
	// DefaultBuckets; at most MaxBuckets. Only with WindowDuration.
	Buckets int
	// FailureRate, in (0, 1], opens the breaker when the share of failures
	// among the calls in the window reaches it. Zero means
	// DefaultFailureRate. Only with a window.
	FailureRate float64
	// SlowCall, when positive, makes every call that takes at least this
	// long a slow call, whether it succeeded or failed: a call of exactly
	// SlowCall is slow (the boundary is ≥; resilience4j's
	// slowCallDurationThreshold uses >, so a call of exactly the threshold
	// is not slow there). Slow calls are counted in Metrics in every mode;
	// with a window they also have a trip rule, SlowCallRate. Ignored calls
	// (see Classify) are never slow calls. Measuring calls costs two clock
	// readings per call. Zero means no slow-call rule.
	SlowCall time.Duration
	// SlowCallRate, in (0, 1], opens the breaker when the share of slow
	// calls in the window reaches it. Zero means DefaultSlowCallRate. Only
	// with a window and SlowCall.
	SlowCallRate float64
	// MinCalls is how many calls the window must hold before a rate can
	// open the breaker. Zero means DefaultMinCalls, capped at WindowCalls;
	// resilience.None means no minimum (the first call is judged). Only
	// with a window.
	MinCalls int

	// OpenDuration is how long the breaker stays open before it lets a
	// probe through (or runs HealthCheck). Zero means DefaultOpenDuration.
	OpenDuration time.Duration
	// MaxOpenDuration, when above OpenDuration, makes the open duration
	// grow: each time a failed probe re-opens the breaker the duration is
	// multiplied by OpenMultiplier, up to MaxOpenDuration. It falls back to
	// OpenDuration once the breaker closes. Zero keeps it fixed.
	MaxOpenDuration time.Duration
	// OpenMultiplier is the growth factor of the open duration, at least
	// 1. Zero means DefaultOpenMultiplier. Only with MaxOpenDuration.
	OpenMultiplier float64
	// OpenJitter, in [0, 1), shortens each open duration by a random share
	// of up to OpenJitter, so breakers that opened together do not probe
	// together: 0.2 gives between 80% and 100% of the duration. Zero means
	// no jitter.
	OpenJitter float64

	// MaxProbes is how many probe calls may be in flight at once while
	// the breaker is half-open (probes of an earlier half-open period that
	// are still running count too); other calls are rejected. Zero means
	// 1.
	MaxProbes int
	// SuccessThreshold is how many successful probes close the breaker.
	// One failed probe re-opens it. Zero means 1.
	SuccessThreshold int

	// HealthCheck, when set, probes the dependency in place of user
	// traffic: once the open duration has passed, a goroutine of the
	// breaker calls HealthCheck until SuccessThreshold calls in a row
	// returned nil (the breaker closes) or one returned an error (it opens
	// again). User calls are rejected until then, so they never pay for a
	// probe. The context carries the Group key (resilience.KeyFrom) for
	// breakers of a Group and is cancelled by Close. Call [Breaker.Close]
	// to stop the goroutine; after Close the breaker probes with user
	// traffic.
	HealthCheck func(ctx context.Context) error
	// HealthCheckTimeout bounds one call of HealthCheck. Zero means
	// DefaultHealthCheckTimeout.
	HealthCheckTimeout time.Duration

	// Classify tells how the error of a call counts. Nil means
	// DefaultClassify: nil is a success, any other error a failure.
	//
	// The caller's impatience is not the dependency's failure: before
	// Classify is asked, whatever it would say, a call that failed is
	// ignored (neither a success nor a failure nor a slow call, and a
	// probe frees its slot) when
	//   - the ctx given to Do is done by the caller's own doing when op
	//     returns: its deadline or cancel, not a time limit that a policy
	//     set (resilience.CallerDone); op's error is not looked at then (a
	//     *url.Error wrapping context.DeadlineExceeded, or an error of
	//     op's own, alike);
	//   - op's error matches context.Canceled;
	//   - op's error is a local rejection (resilience.IsLocalRejection): a
	//     policy inside the breaker, such as a full bulkhead or a local
	//     rate limit, refused the call before it reached the dependency.
	// A time limit of package timelimit — per attempt inside the breaker,
	// or for the whole call outside it — is a policy's measure of the
	// dependency, so its expiry is asked about, and by default counts as a
	// failure. A success counts as one even when it came back after the
	// caller gave up.
	//
	// A panic in op is a failure, without asking Classify, except a panic
	// with http.ErrAbortHandler (a handler giving up on a client that went
	// away), which is ignored; both panics propagate.
	Classify func(err error) Outcome

	// OnStateChange, when set, is called after every change of state, in
	// order, never with a lock held: it may call back into the breaker.
	// Changes made meanwhile by other goroutines are reported by the same
	// call sequence, so keep it short.
	//
	// ctx is the context of whatever made the change: the ctx given to Do
	// by the call whose outcome tripped, probed or closed the breaker
	// (even when another goroutine delivers the change); the context of
	// the health-check goroutine (which carries the Group key and ends
	// with Close) for changes made by Config.HealthCheck; and
	// context.Background() for [Breaker.ForceOpen], [Breaker.Disable] and
	// [Breaker.Reset].
	OnStateChange func(ctx context.Context, from, to State)

	// Observer, when set, receives the breaker's events: an
	// EventStateChange for every change of state (From and To are
	// State.String(); Err is the failure that opened the breaker, when one
	// did), delivered in order and with the same context as OnStateChange
	// (after it, when both are set), and an EventReject for every call
	// the breaker refuses, with the caller's context, on its goroutine.
	// Zero means no observer: nothing is reported and nothing is paid. In
	// a [GroupConfig] its events carry the key of the breaker (see the
	// package doc's "# Events" section for the kinds and reasons).
	Observer resilience.Observer
}

// mode is the trip rule family of a breaker.
type mode uint8

const (
	modeConsecutive mode = iota
	modeCount
	modeTime
)

// settings is a validated Config with its defaults applied.
type settings struct {
	mode           mode
	consecutive    int64 // 0: no consecutive rule
	windowCalls    int
	bucketWidth    int64 // ns
	buckets        int
	failureRate    float64
	slowCall       time.Duration
	slowRate       float64
	minCalls       int
	openDuration   time.Duration
	maxOpen        time.Duration
	openMultiplier float64
	openJitter     float64
	maxProbes      int
	successes      int
	healthCheck    func(context.Context) error
	healthTimeout  time.Duration
	classify       func(error) Outcome
	onStateChange  func(ctx context.Context, from, to State)
	observer       resilience.Observer
	name           string
}

func (c Config) settings() settings {
	fail := func(format string, args ...any) {
		panic("breaker: " + fmt.Sprintf(format, args...))
	}
	noConsecutive := c.ConsecutiveFailures == resilience.None
	if noConsecutive {
		c.ConsecutiveFailures = 0
	}
	noMinCalls := c.MinCalls == resilience.None
	if noMinCalls {
		c.MinCalls = 0
	}
	rate := func(name string, r float64) {
		if math.IsNaN(r) || r < 0 || r > 1 {
			fail("%s %v is outside [0, 1]", name, r)
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"ConsecutiveFailures", int64(c.ConsecutiveFailures)},
		{"WindowCalls", int64(c.WindowCalls)},
		{"WindowDuration", int64(c.WindowDuration)},
		{"Buckets", int64(c.Buckets)},
		{"SlowCall", int64(c.SlowCall)},
		{"MinCalls", int64(c.MinCalls)},
		{"OpenDuration", int64(c.OpenDuration)},
		{"MaxOpenDuration", int64(c.MaxOpenDuration)},
		{"MaxProbes", int64(c.MaxProbes)},
		{"SuccessThreshold", int64(c.SuccessThreshold)},
		{"HealthCheckTimeout", int64(c.HealthCheckTimeout)},
	} {
		if f.v < 0 {
			fail("negative %s %d", f.name, f.v)
		}
	}
	rate("FailureRate", c.FailureRate)
	rate("SlowCallRate", c.SlowCallRate)
	observe.Check("breaker", c.Observer)

	s := settings{
		consecutive:   int64(c.ConsecutiveFailures),
		failureRate:   c.FailureRate,
		slowCall:      c.SlowCall,
		slowRate:      c.SlowCallRate,
		minCalls:      c.MinCalls,
		openDuration:  c.OpenDuration,
		maxProbes:     c.MaxProbes,
		successes:     c.SuccessThreshold,
		healthCheck:   c.HealthCheck,
		healthTimeout: c.HealthCheckTimeout,
		classify:      c.Classify,
		onStateChange: c.OnStateChange,
		observer:      c.Observer,
		name:          c.Name,
	}
	switch {
	case c.WindowCalls > 0 && c.WindowDuration > 0:
		fail("set WindowCalls or WindowDuration, not both")
	case c.WindowCalls > 0:
		if c.WindowCalls > MaxWindowCalls {
			fail("WindowCalls %d is above MaxWindowCalls", c.WindowCalls)
		}
		s.mode, s.windowCalls = modeCount, c.WindowCalls
	case c.WindowDuration > 0:
		s.mode, s.buckets = modeTime, c.Buckets
		if s.buckets == 0 {
			s.buckets = DefaultBuckets
		}
		if s.buckets > MaxBuckets {
			fail("Buckets %d is above MaxBuckets", s.buckets)
		}
		s.bucketWidth = int64(c.WindowDuration) / int64(s.buckets)
		if s.bucketWidth == 0 {
			fail("WindowDuration %v is shorter than %d buckets of 1ns", c.WindowDuration, s.buckets)
		}
	default:
		if c.Buckets != 0 || c.FailureRate != 0 || c.SlowCallRate != 0 || c.MinCalls != 0 || noMinCalls {
			fail("Buckets, FailureRate, SlowCallRate and MinCalls need WindowCalls or WindowDuration")
		}
		if noConsecutive {
			fail("ConsecutiveFailures None without a window leaves no trip rule")
		}
		if s.consecutive == 0 {
			s.consecutive = DefaultConsecutiveFailures
		}
	}
	if c.WindowDuration == 0 && c.Buckets != 0 {
		fail("Buckets needs WindowDuration")
	}
	if c.SlowCallRate != 0 && c.SlowCall == 0 {
		fail("SlowCallRate needs SlowCall")
	}
	if s.mode != modeConsecutive {
		if s.failureRate == 0 {
			s.failureRate = DefaultFailureRate
		}
		if s.slowCall > 0 && s.slowRate == 0 {
			s.slowRate = DefaultSlowCallRate
		}
		if s.minCalls == 0 && !noMinCalls {
			s.minCalls = DefaultMinCalls
		}
		if s.mode == modeCount && s.minCalls > s.windowCalls {
			s.minCalls = s.windowCalls
		}
		if s.minCalls < 1 {
			s.minCalls = 1
		}
	}

	if s.openDuration == 0 {
		s.openDuration = DefaultOpenDuration
	}
	switch {
	case c.MaxOpenDuration == 0:
		if c.OpenMultiplier != 0 {
			fail("OpenMultiplier needs MaxOpenDuration")
		}
		s.maxOpen = s.openDuration
		s.openMultiplier = 1
	case c.MaxOpenDuration < s.openDuration:
		fail("MaxOpenDuration %v is below OpenDuration %v", c.MaxOpenDuration, s.openDuration)
	default:
		s.maxOpen = c.MaxOpenDuration
		s.openMultiplier = c.OpenMultiplier
		if s.openMultiplier == 0 {
			s.openMultiplier = DefaultOpenMultiplier
		}
		if math.IsNaN(s.openMultiplier) || math.IsInf(s.openMultiplier, 0) || s.openMultiplier < 1 {
			fail("OpenMultiplier %v is below 1", c.OpenMultiplier)
		}
	}
	if math.IsNaN(c.OpenJitter) || c.OpenJitter < 0 || c.OpenJitter >= 1 {
		fail("OpenJitter %v is outside [0, 1)", c.OpenJitter)
	}
	s.openJitter = c.OpenJitter

	if s.maxProbes == 0 {
		s.maxProbes = 1
	}
	if s.successes == 0 {
		s.successes = 1
	}
	if s.healthTimeout == 0 {
		s.healthTimeout = DefaultHealthCheckTimeout
	}
	return s
}
