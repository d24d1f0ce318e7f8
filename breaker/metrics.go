package breaker

import "time"

// Metrics is a snapshot of a breaker's counters, for dashboards and health
// endpoints. Counters are cumulative since [New]; the window fields
// describe the calls the trip rules see now. Under concurrent calls the
// fields are each exact but not read at one instant.
type Metrics struct {
	// State is the state of the breaker.
	State State
	// Calls counts the calls that ran and were not ignored: successes and
	// failures, probes included.
	Calls uint64
	// Failures counts the calls that failed (panics included).
	Failures uint64
	// SlowCalls counts the calls that took at least Config.SlowCall; 0
	// without SlowCall.
	SlowCalls uint64
	// Ignored counts the calls ignored: classified as Ignore, or left out
	// before classification (the caller gave up, the call was
	// cancelled or locally rejected, or op panicked with
	// http.ErrAbortHandler; see Config.Classify).
	Ignored uint64
	// Rejections counts the calls rejected without running.
	Rejections uint64
	// ConsecutiveFailures is the current run of failures while closed.
	ConsecutiveFailures int
	// WindowCalls, FailureRate and SlowCallRate describe the count or
	// time window: how many calls it holds, and the share of them that
	// failed or were slow. Zero without a window.
	WindowCalls  int
	FailureRate  float64
	SlowCallRate float64
	// NextProbe is the time left until an open breaker lets a probe
	// through (0 when it may now, or when not open).
	NextProbe time.Duration
}

// Metrics returns a snapshot of the breaker's counters. It never blocks
// successful calls, and is cheap enough for every scrape of a dashboard or
// health endpoint.
func (b *Breaker) Metrics() Metrics {
	m := Metrics{
		State:               b.State(),
		Failures:            b.failures.Load(),
		SlowCalls:           b.slowCalls.Load(),
		Ignored:             b.ignored.Load(),
		Rejections:          b.rejections.Load(),
		ConsecutiveFailures: int(b.consec.Load()),
	}
	if b.cfg.mode == modeTime {
		m.Calls = uint64(b.win.time.total())
	} else {
		m.Calls = uint64(b.calls.sum(0))
	}
	m.Calls += b.otherCalls.Load()
	calls, fails, slows := b.win.snapshot(b)
	if calls > 0 {
		m.WindowCalls = calls
		m.FailureRate = float64(fails) / float64(calls)
		m.SlowCallRate = float64(slows) / float64(calls)
	}
	if m.State == Open {
		m.NextProbe = time.Duration(max(b.opened.Load().until-b.now(), 0))
	}
	return m
}
