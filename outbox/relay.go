package outbox

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/retry"
)

// Defaults for the zero fields of RelayConfig.
const (
	DefaultBatchSize       = 100
	DefaultBatchBytes      = 4 << 20
	DefaultPollInterval    = time.Second
	DefaultLeaseTTL        = 30 * time.Second
	DefaultMaxAttempts     = 10
	DefaultShutdownTimeout = 5 * time.Second
	DefaultInitialBackoff  = time.Second
	DefaultMaxBackoff      = 5 * time.Minute
)

// DefaultAckTimeout bounds one attempt at recording a batch's outcomes.
// It is longer than the busy timeouts the SQL stores set (outbox/sqlite
// waits up to 10 s for the write lock) so that a database that makes the
// relay wait is waited for, not cut off; an attempt that still times out
// is retried with the same outcomes.
const DefaultAckTimeout = 15 * time.Second

// RelayConfig configures a Relay. Every zero field means its documented
// default. A RelayConfig is a plain value; a Breaker or Notifier in it is
// shared by the relays made from its copies.
type RelayConfig struct {
	// ID names the relay in the lease table: it must differ between the
	// relays sharing an outbox, and be at most MaxIDLen bytes. Empty means
	// a NewID.
	ID string

	// BatchSize is how many messages the relay claims and hands to the
	// publisher at once. Zero means DefaultBatchSize (100).
	BatchSize int
	// BatchBytes bounds a batch in bytes too (payloads and headers as
	// stored): a claim takes messages while those before stay under it, so
	// a batch holds at most BatchBytes plus one message (of at most
	// Config.MaxMessageBytes), and always at least one message. Zero means
	// DefaultBatchBytes (4 MiB).
	BatchBytes int
	// ScanWindow is how many waiting rows (of keys no other relay holds) a
	// claim looks at to fill a batch with messages that are due, in
	// insertion order: rows of keys that wait for a delayed message count
	// too. Zero means twice BatchSize, at least 1000.
	ScanWindow int

	// PollInterval is how long the relay sleeps when it found less than a
	// full batch, unless a Notifier wakes it earlier. Zero means
	// DefaultPollInterval (1 s).
	PollInterval time.Duration
	// Notifier, when not nil, wakes the relay when messages were committed
	// (see outbox/postgres), so that they are published within
	// milliseconds without polling often.
	Notifier Notifier

	// LeaseTTL is how long a claim holds its keys. The relay renews the
	// lease every LeaseTTL/3 while it publishes, and stops publishing
	// (cancelling the publisher's context) when a fifth of the TTL is
	// left without a renewal, so that another relay may take over the keys
	// of a relay that died, or lost the database, once the TTL has passed.
	// Zero means DefaultLeaseTTL (30 s); at least 100 ms.
	LeaseTTL time.Duration

	// MaxAttempts is how many failed attempts to publish a message make the
	// relay move it to the dead-letter table (reason "max_attempts").
	// Failures matching ErrUnavailable (the broker could not be reached)
	// are not attempts. Zero means DefaultMaxAttempts (10).
	MaxAttempts int
	// Backoff, when not nil, says how long a message waits after a failed
	// attempt to publish it (its key waits with it): after its n-th
	// failure (n from 1), Backoff(n). When ok is false the message is
	// dead-lettered, as MaxAttempts does. MaxAttempts bounds the attempts,
	// and each wait is a timestamp in the message's row, so that it holds
	// across relay restarts. Backoff is called on the relay's goroutine; a
	// function shared by several relays must be safe for concurrent use.
	//
	// The Delay method of a *retry.Retry has this shape, so a retry.Config
	// says the backoff, MaxDelay and jitter (its other settings play no
	// part; a backoff.BackOff in retry.Config.Backoff that says stop
	// before retry n dead-letters the message):
	//
	//	Backoff: retry.New(retry.Config{
	//		InitialDelay: 100 * time.Millisecond,
	//		MaxDelay:     5 * time.Second,
	//		Jitter:       retry.JitterEqual,
	//	}).Delay,
	//
	// Nil means an exponential backoff from DefaultInitialBackoff,
	// doubling up to DefaultMaxBackoff, with equal jitter (1 s, 2 s, 4 s,
	// … up to 5 min, each spread between half of it and all of it), as
	// the Delay of
	//
	//	retry.New(retry.Config{
	//		InitialDelay: outbox.DefaultInitialBackoff,
	//		MaxDelay:     outbox.DefaultMaxBackoff,
	//		Jitter:       retry.JitterEqual,
	//	})
	Backoff func(attempt int) (delay time.Duration, ok bool)

	// Breaker, when not nil, guards the publisher: each Publish call is
	// one call of its Do, a failure (op's error) when every message of the
	// call failed (permanent rejections aside). Any resilience.Policy
	// fits, typically a *breaker.Breaker, or a resilience.Chain of one
	// with a rate limit. When Do returns without calling op (it refused
	// the call), the relay releases the batch it claimed and waits for
	// the error's resilience.RetryAfter (at least 10 ms) before it claims
	// again. It
	// alone paces the relay while the broker is unavailable (failures
	// matching ErrUnavailable), as those failures do not delay the
	// messages: once it lets calls through again the backlog flows at
	// once. It must not retry op: a retry would publish the batch again.
	// Nil means a breaker of the relay's own that opens after 5 failed
	// calls in a row, for 1 s doubling up to 5 s (with up to 20 % of
	// jitter): a probe, one claim and one Publish call, every 5 s costs
	// little against a broker that is down, and the backlog starts
	// flowing within 5 s of its return.
	Breaker resilience.Policy

	// Retention, when positive, keeps published rows (with published_at
	// set) for that long instead of deleting them at once; the relay
	// purges older ones every minute. Zero deletes published rows.
	Retention time.Duration

	// ShutdownTimeout is how long a batch in flight may keep publishing
	// after Run's context ends; then the publisher's context is cancelled
	// and what was not published is released for the next relay. Its
	// outcomes are then recorded: a failing attempt is retried for
	// ShutdownTimeout more, and the attempt in flight is let finish (up
	// to DefaultAckTimeout). Zero means DefaultShutdownTimeout (5 s).
	ShutdownTimeout time.Duration

	// OnError, when not nil, is called with the database errors the relay
	// recovers from by retrying (a claim, an acknowledgement, a lease
	// renewal), and the context of Run (for a lease renewal, the context
	// of the batch being published), so that a log line can carry what
	// that context carries. It is called on the relay's goroutines, with
	// no lock held.
	OnError func(ctx context.Context, err error)

	// Name names the relay for telemetry (logs, metrics labels): the Name
	// of its events, and Relay.Name. Unlike ID it should be the same in
	// every process, as it labels metrics. Zero means "".
	Name string

	// Observer, when not nil, is told what the relay does, one
	// resilience.Event each, with Policy "outbox" and Name the relay's
	// Name, on the relay's goroutine with the context of Run and no lock
	// held: each publish call of a batch (EventPublish: Count the messages
	// the broker acknowledged, Duration how long the call took, Err the
	// failure when none was) and each message moved to the dead-letter
	// table (EventDeadLetter: Reason ReasonMaxAttempts, ReasonRejected or
	// ReasonExpired, Err the last failure, Attempt the attempts). See
	// "Events" in the package documentation; the Outbox's own events
	// (Redrive) go to Config.Observer. Zero means no observer: nothing is
	// reported and nothing is paid. A typed nil panics in NewRelay.
	Observer resilience.Observer
}

// Relay publishes the messages of an Outbox: it claims batches of due
// messages, hands them to a Publisher and records what became of each.
// Make one with NewRelay and start it with Run. Run several, in one or
// many processes, to share the work: see the package documentation for
// what they guarantee. A Relay is safe for concurrent use; Metrics may be
// called at any time.
type Relay struct {
	st      store
	pub     Publisher
	c       RelayConfig
	br      resilience.Policy
	claimR  *retry.Retry
	ackR    *retry.Retry
	running atomic.Bool

	published, failed, unavailable, dead, expired, batches, storeErrors, fenced atomic.Uint64
}

// NewRelay returns a relay that publishes the messages of ob with pub. It
// panics with an "outbox: ..." message when ob or pub is nil or c holds
// values that make no sense (negative sizes or durations, an ID too long).
func NewRelay(ob *Outbox, pub Publisher, c RelayConfig) *Relay {
	if ob == nil {
		panic("outbox: NewRelay with a nil *Outbox")
	}
	return newRelay(ob, pub, c)
}

func newRelay(st store, pub Publisher, c RelayConfig) *Relay {
	if pub == nil {
		panic("outbox: NewRelay with a nil Publisher")
	}
	switch {
	case c.BatchSize < 0, c.BatchBytes < 0, c.ScanWindow < 0, c.MaxAttempts < 0:
		panic("outbox: RelayConfig: negative BatchSize, BatchBytes, ScanWindow or MaxAttempts")
	case c.BatchSize > MaxBatchSize:
		panic(fmt.Sprintf("outbox: RelayConfig.BatchSize over MaxBatchSize (%d)", MaxBatchSize))
	case c.PollInterval < 0, c.LeaseTTL < 0, c.Retention < 0, c.ShutdownTimeout < 0:
		panic("outbox: RelayConfig: negative duration")
	case len(c.ID) > MaxIDLen:
		panic(fmt.Sprintf("outbox: RelayConfig.ID longer than %d bytes", MaxIDLen))
	case c.LeaseTTL != 0 && c.LeaseTTL < 100*time.Millisecond:
		panic("outbox: RelayConfig.LeaseTTL below 100 ms")
	case c.Breaker != nil && typedNil(c.Breaker):
		panic(fmt.Sprintf("outbox: RelayConfig.Breaker is a nil %T", c.Breaker))
	case c.Observer != nil && typedNil(c.Observer):
		panic(fmt.Sprintf("outbox: RelayConfig.Observer is a nil %T", c.Observer))
	}
	if c.ID == "" {
		c.ID = NewID()
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.ScanWindow == 0 {
		c.ScanWindow = max(2*c.BatchSize, 1000)
	}
	c.ScanWindow = max(c.ScanWindow, c.BatchSize)
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Backoff == nil {
		c.Backoff = retry.New(retry.Config{
			InitialDelay: DefaultInitialBackoff,
			MaxDelay:     DefaultMaxBackoff,
			Jitter:       retry.JitterEqual,
		}).Delay
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	r := &Relay{st: st, pub: pub, c: c, br: c.Breaker}
	if r.br == nil {
		r.br = breaker.New(breaker.Config{
			ConsecutiveFailures: 5,
			OpenDuration:        time.Second,
			MaxOpenDuration:     5 * time.Second,
			OpenJitter:          0.2,
		})
	}
	onRetry := func(ctx context.Context, _ int, err error, _ time.Duration) { r.report(ctx, err) }
	// Claims retry for as long as the relay runs: a database that is down
	// is waited for, with backoff, not given up on.
	r.claimR = retry.New(retry.Config{MaxRetries: 1 << 30, InitialDelay: 50 * time.Millisecond,
		MaxDelay: 5 * time.Second, OnRetry: onRetry})
	// Acknowledgements retry until they are recorded, or for
	// ShutdownTimeout after Run's context ended (see ack): giving up
	// after the lease TTL would throw away the progress of a batch that
	// was published, and under contention claim and publish it again and
	// again. A late ack is safe: it releases only this relay's leases and
	// records outcomes by sequence number.
	r.ackR = retry.New(retry.Config{MaxRetries: 1 << 30, InitialDelay: 20 * time.Millisecond,
		MaxDelay: time.Second, OnRetry: onRetry})
	return r
}

// typedNil reports whether p holds a nil pointer, func, map, slice or
// chan, which would fail at its first call.
func typedNil(p any) bool {
	switch v := reflect.ValueOf(p); v.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// ID returns the relay's name in the lease table.
func (r *Relay) ID() string { return r.c.ID }

// Name returns RelayConfig.Name: the name of the relay for telemetry.
func (r *Relay) Name() string { return r.c.Name }

func (r *Relay) report(ctx context.Context, err error) {
	r.storeErrors.Add(1)
	if r.c.OnError != nil {
		r.c.OnError(ctx, err)
	}
}

// Run publishes messages until ctx ends, then finishes the batch in flight
// within ShutdownTimeout (or releases what it could not publish) and
// returns nil. Database errors do not stop it: it retries with backoff
// and reports them to OnError. It returns ErrRunning at once when the
// relay is already running.
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer r.running.Store(false)
	var wake <-chan struct{}
	if r.c.Notifier != nil {
		c, cancel := r.c.Notifier.Subscribe()
		defer cancel()
		wake = c
	}
	timer := time.NewTimer(r.c.PollInterval)
	defer timer.Stop()
	var lastPurge time.Time
	for ctx.Err() == nil {
		full, pause, err := r.cycle(ctx)
		if err != nil && ctx.Err() == nil {
			r.report(ctx, err)
			pause = r.c.PollInterval
		}
		if r.c.Retention > 0 && time.Since(lastPurge) >= time.Minute {
			lastPurge = time.Now()
			if _, err := r.st.purge(ctx, r.c.Retention); err != nil && ctx.Err() == nil {
				r.report(ctx, err)
			}
		}
		if full && pause == 0 {
			continue // more may be due at once
		}
		w := wake
		if pause == 0 {
			pause = r.c.PollInterval
		} else {
			w = nil // an open breaker is waited out, whatever is committed
		}
		timer.Reset(pause)
		select {
		case <-ctx.Done():
		case <-w:
		case <-timer.C:
		}
	}
	return nil
}

var (
	errShutdown  = errors.New("outbox: relay stopped")
	errLeaseLost = errors.New("outbox: lease about to expire")
)

// cycle claims one batch, publishes it and records the outcomes. It reports
// whether the batch was cut by BatchSize or BatchBytes (more may be due at
// once) and how long to pause before the next claim (while the breaker is
// open).
func (r *Relay) cycle(ctx context.Context) (full bool, _ time.Duration, _ error) {
	start := time.Now()
	var batch []claimed
	err := r.claimR.Do(ctx, func(ctx context.Context) error {
		var err error
		batch, err = r.st.claim(ctx, r.c.ID, r.c.BatchSize, r.c.BatchBytes, r.c.ScanWindow, r.c.LeaseTTL)
		return err
	})
	if err != nil || len(batch) == 0 {
		return false, 0, err
	}
	r.batches.Add(1)
	var bytes int64
	for i := range batch {
		bytes += batch[i].size
	}
	full = len(batch) == r.c.BatchSize || bytes >= int64(r.c.BatchBytes)
	out := make([]outcome, len(batch))
	msgs := make([]Message, 0, len(batch))
	idx := make([]int, 0, len(batch))
	for i := range batch {
		c := &batch[i]
		out[i] = outcome{seq: c.seq, key: c.msg.Key}
		if c.expired {
			out[i].kind, out[i].reason, out[i].attempts = dead, ReasonExpired, c.msg.Attempts
			continue
		}
		msgs = append(msgs, c.msg)
		idx = append(idx, i)
	}
	var pause time.Duration
	var causes []error // with an Observer: the error of each outcome, for its dead letter
	if len(msgs) > 0 {
		errs := make([]error, len(msgs))
		keys := map[string]struct{}{}
		for i := range batch {
			keys[batch[i].msg.Key] = struct{}{}
		}
		var pubStart time.Time
		if r.c.Observer != nil {
			pubStart = time.Now()
		}
		pubCtx, err := r.publish(ctx, start.Add(r.c.LeaseTTL-r.c.LeaseTTL/5), len(keys), msgs, errs)
		if r.c.Observer != nil {
			r.reportPublish(ctx, time.Since(pubStart), err, errs)
			causes = make([]error, len(out))
		}
		if err != nil { // the breaker refused: nothing was sent
			pause, _ = resilience.RetryAfter(err)
			pause = max(pause, 10*time.Millisecond)
			for _, i := range idx {
				out[i].kind = unsent
			}
		} else {
			down := false
			for j, i := range idx {
				down = r.classify(&out[i], &batch[i], errs[j], pubCtx) || down
				if causes != nil {
					causes[i] = errs[j]
				}
			}
			if down {
				// The broker could not be reached: back off as a whole,
				// not per message. Once the breaker is open the next
				// claim finds out for how long.
				pause = unavailablePause
			}
		}
	}
	if err := r.ack(ctx, out); err != nil {
		// The leases run out and the batch is claimed again: its
		// published messages are published twice, nothing is lost.
		return full, pause, err
	}
	for i := range out {
		switch out[i].kind {
		case lost:
			r.fenced.Add(1)
		case dead:
			r.dead.Add(1)
			if out[i].reason == ReasonExpired {
				r.expired.Add(1)
			}
			if r.c.Observer != nil {
				var cause error
				if causes != nil {
					cause = causes[i]
				}
				r.c.Observer.Observe(ctx, resilience.Event{Kind: resilience.EventDeadLetter, Policy: "outbox", Name: r.c.Name,
					Reason: out[i].reason, Err: cause, Attempt: out[i].attempts})
			}
		}
	}
	return full, pause, nil
}

// reportPublish reports a publish call of a batch that took d: refused by
// the breaker with refused, or made, with the messages' outcomes in errs.
// A call that published nothing is a failure, with its first error.
func (r *Relay) reportPublish(ctx context.Context, d time.Duration, refused error, errs []error) {
	e := resilience.Event{Kind: resilience.EventPublish, Policy: "outbox", Name: r.c.Name, Duration: d, Err: refused}
	if refused == nil {
		for _, err := range errs {
			switch {
			case err == nil:
				e.Count++
			case e.Err == nil, errors.Is(e.Err, ErrNotSent) && !errors.Is(err, ErrNotSent):
				e.Err = err // the first failure, ErrNotSent only when all are
			}
		}
		if e.Count > 0 {
			e.Err = nil
		}
	}
	r.c.Observer.Observe(ctx, e)
}

// ack records out, retrying each failed or timed-out attempt (at most
// DefaultAckTimeout each) until one succeeds or ctx has been done for
// ShutdownTimeout; an attempt begun before then is let finish.
func (r *Relay) ack(ctx context.Context, out []outcome) error {
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var grace *time.Timer
	armed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		grace = time.AfterFunc(r.c.ShutdownTimeout, cancel)
		close(armed)
	})
	defer func() {
		if !stop() { // ctx ended: the grace timer is (being) set
			<-armed
			grace.Stop()
		}
	}()
	return r.ackR.Do(actx, func(actx context.Context) error {
		// The grace ends the retries, not the attempt in flight: the
		// acknowledgement of a batch interrupted by the shutdown starts
		// after ctx ended, and is what releases its keys for the next
		// relay at once.
		attempt, cancel := context.WithTimeout(context.WithoutCancel(actx), DefaultAckTimeout)
		defer cancel()
		return r.st.ack(attempt, r.c.ID, out, r.c.Retention > 0)
	})
}

// unavailablePause is how long the relay waits before its next claim after
// a publish call in which the broker could not be reached, while its
// breaker is not yet open.
const unavailablePause = 50 * time.Millisecond

// classify turns the publisher's verdict on one message into an outcome.
// It reports whether the message failed because the broker was
// unavailable.
func (r *Relay) classify(o *outcome, c *claimed, err error, pubCtx context.Context) (unavailable bool) {
	switch {
	case err == nil:
		o.kind = published
		r.published.Add(1)
		return false
	case errors.Is(err, ErrNotSent):
		o.kind = unsent
		return false
	case pubCtx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		// The relay stopped, or its lease was running out: not the
		// message's fault.
		o.kind = unsent
		return false
	case errors.Is(err, ErrUnavailable) && !resilience.IsPermanent(err):
		// The broker could not be reached: not the message's fault
		// either. Retried at once when the breaker lets calls through,
		// without an attempt counted or a backoff of its own.
		o.kind = unsent
		r.unavailable.Add(1)
		return true
	}
	r.failed.Add(1)
	o.attempts = c.msg.Attempts + 1
	o.err = truncate(err.Error(), 2000)
	if resilience.IsPermanent(err) {
		o.kind, o.reason = dead, ReasonRejected
		return false
	}
	if o.attempts < r.c.MaxAttempts {
		if d, ok := r.c.Backoff(o.attempts); ok {
			o.kind, o.delay = failed, d
			return false
		}
	}
	o.kind, o.reason = dead, ReasonMaxAttempts
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// publish hands msgs to the publisher through the breaker, with a context
// that ends when the lease is about to run out (renewals push that back)
// or ShutdownTimeout after ctx ended. It returns that context, and the
// breaker's error when it refused the call. A panic in the publisher fails
// every message of the call.
func (r *Relay) publish(ctx context.Context, deadline time.Time, keys int, msgs []Message, errs []error) (pubCtx context.Context, err error) {
	pubCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := r.watch(ctx, cancel, deadline, keys)
	defer func() {
		stop()
		if p := recover(); p != nil {
			perr := fmt.Errorf("outbox: publisher panicked: %v", p)
			for i := range errs {
				errs[i] = perr
			}
			err = nil
		}
	}()
	called := false
	err = r.br.Do(pubCtx, func(ctx context.Context) error {
		called = true
		r.pub.Publish(ctx, msgs, errs)
		var first error
		for _, e := range errs {
			switch {
			case e == nil:
				return nil // the broker works
			case first == nil && !errors.Is(e, ErrNotSent) && !resilience.IsPermanent(e):
				first = e
			}
		}
		return first
	})
	if called {
		err = nil // the outcomes are in errs
	}
	return pubCtx, err
}

// watch cancels a publish when the lease is about to run out or ctx has
// been done for ShutdownTimeout, and renews the lease of the keys keys
// meanwhile; a renewal that finds fewer keys held than that means another
// relay took some over (this one was paused longer than the TTL), and
// cancels the publish too. The returned function stops it and waits for
// it.
func (r *Relay) watch(ctx context.Context, cancel context.CancelCauseFunc, deadline time.Time, keys int) (stop func()) {
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		lease := time.NewTimer(time.Until(deadline))
		defer lease.Stop()
		renew := time.NewTicker(r.c.LeaseTTL / 3)
		defer renew.Stop()
		var grace *time.Timer
		var graceC <-chan time.Time
		stopping := ctx.Done()
		defer func() {
			if grace != nil {
				grace.Stop()
			}
		}()
		for {
			select {
			case <-wctx.Done():
				return
			case <-stopping:
				stopping = nil
				grace = time.NewTimer(r.c.ShutdownTimeout)
				graceC = grace.C
			case <-graceC:
				cancel(errShutdown)
				return
			case <-lease.C:
				cancel(errLeaseLost)
				return
			case <-renew.C:
				t0 := time.Now()
				rctx, rcancel := context.WithTimeout(wctx, r.c.LeaseTTL/3)
				n, err := r.st.renew(rctx, r.c.ID, r.c.LeaseTTL)
				rcancel()
				if err == nil && n < int64(keys) {
					cancel(errLeaseLost)
					return
				}
				if err == nil {
					lease.Reset(time.Until(t0.Add(r.c.LeaseTTL - r.c.LeaseTTL/5)))
				} else if wctx.Err() == nil {
					r.report(wctx, err)
				}
			}
		}
	}()
	return func() {
		wcancel()
		<-finished
		cancel(nil)
	}
}

// Metrics counts what a relay did since it was made. Backlog, lag and
// the size of the dead-letter table are in the database: see Outbox.Stats.
type Metrics struct {
	// Published is how many messages the broker acknowledged.
	Published uint64
	// Failed is how many attempts to publish a message failed (including
	// the last attempts of messages then dead-lettered). Failures that
	// matched ErrUnavailable are not attempts: see Unavailable.
	Failed uint64
	// Unavailable is how many times a message failed because the broker
	// could not be reached (its error matched ErrUnavailable); such
	// failures are retried without counting an attempt.
	Unavailable uint64
	// DeadLettered is how many messages the relay moved to the dead-letter
	// table, Expired included.
	DeadLettered uint64
	// Expired is how many of those expired before they could be published.
	Expired uint64
	// Batches is how many non-empty batches the relay claimed.
	Batches uint64
	// StoreErrors is how many database operations failed (and were
	// retried).
	StoreErrors uint64
	// Fenced is how many outcomes of published batches the relay did not
	// record because it had lost the key's lease meanwhile (it was paused
	// for longer than LeaseTTL and another relay took the key over). The
	// messages it sent then carry an older fence (FenceHeader) than the
	// other relay's.
	Fenced uint64
}

// Metrics returns the relay's counters. It is cheap and safe to call
// concurrently with Run.
func (r *Relay) Metrics() Metrics {
	return Metrics{
		Published:    r.published.Load(),
		Failed:       r.failed.Load(),
		Unavailable:  r.unavailable.Load(),
		DeadLettered: r.dead.Load(),
		Expired:      r.expired.Load(),
		Batches:      r.batches.Load(),
		StoreErrors:  r.storeErrors.Load(),
		Fenced:       r.fenced.Load(),
	}
}
