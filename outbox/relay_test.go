package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/retry"
)

// start runs r in the bubble until the returned function cancels it and
// waits for Run to return (with its error).
func start(r *Relay) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

type traceKey struct{}

func keyed(key string, n int) []Message {
	out := make([]Message, n)
	for i := range out {
		out[i] = Message{Topic: "t", Key: key, Payload: fmt.Appendf(nil, "%s/%d", key, i)}
	}
	return out
}

func payloadsOf(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Payload)
	}
	return out
}

// fixedBackoff returns a backoff that waits d after every failure.
func fixedBackoff(d time.Duration) func(int) (time.Duration, bool) {
	return retry.New(retry.Config{InitialDelay: d, Multiplier: 1, MaxDelay: d, Jitter: retry.JitterNone}).Delay
}

func TestRelayPublishesBatchesInOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 120)...)
		st.add(keyed("b", 90)...)
		st.add(keyed("c", 40)...)
		pub := NewMemoryPublisher()
		r := newRelay(st, pub, RelayConfig{BatchSize: 100})
		stop := start(r)
		synctest.Wait()
		require.NoError(t, stop())

		got := pub.Messages()
		require.Len(t, got, 250)
		next := map[string]int{}
		for _, m := range got {
			assert.Equal(t, fmt.Sprintf("%s/%d", m.Key, next[m.Key]), string(m.Payload))
			next[m.Key]++
		}
		assert.Zero(t, st.waiting())
		m := r.Metrics()
		assert.EqualValues(t, 250, m.Published)
		assert.EqualValues(t, 3, m.Batches)
		assert.Zero(t, m.Failed)
	})
}

// TestRelayAcksPerMessage: one failure in a batch does not republish the
// rest; the later messages of the failed key wait, uncounted, and go after
// it once it succeeds.
func TestRelayAcksPerMessage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 3)...)
		st.add(keyed("b", 1)...)
		pub := NewMemoryPublisher()
		var once sync.Once
		pub.SetFailure(func(m Message) error {
			var err error
			if string(m.Payload) == "a/1" {
				once.Do(func() { err = errors.New("nack") })
			}
			return err
		})
		r := newRelay(st, pub, RelayConfig{Backoff: fixedBackoff(time.Second), PollInterval: 100 * time.Millisecond})
		stop := start(r)
		synctest.Wait()
		assert.Equal(t, []string{"a/0", "b/0"}, payloadsOf(pub.Messages()))
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		require.NoError(t, stop())
		got := pub.Messages()
		assert.Equal(t, []string{"a/0", "b/0", "a/1", "a/2"}, payloadsOf(got))
		assert.Equal(t, 1, got[2].Attempts, "a/1 failed once")
		assert.Zero(t, got[3].Attempts, "a/2 was not sent: no attempt counted")
		assert.EqualValues(t, 1, r.Metrics().Failed)
		assert.EqualValues(t, 4, r.Metrics().Published)
	})
}

func TestRelayDeadLetters(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(Message{Topic: "t", Key: "p", Payload: []byte("poison")}, Message{Topic: "t", Key: "p", Payload: []byte("after")})
		st.add(Message{Topic: "t", Key: "r", Payload: []byte("rejected")})
		st.add(Message{Topic: "t", Key: "e", Payload: []byte("expired"), ExpiresAt: time.Now().Add(-time.Second)})
		pub := NewMemoryPublisher()
		pub.SetFailure(func(m Message) error {
			switch string(m.Payload) {
			case "poison":
				return errors.New("too large")
			case "rejected":
				return resilience.Permanent(errors.New("invalid"))
			}
			return nil
		})
		r := newRelay(st, pub, RelayConfig{MaxAttempts: 3, Backoff: fixedBackoff(time.Second)})
		stop := start(r)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.NoError(t, stop())

		assert.Equal(t, []string{"after"}, payloadsOf(pub.Messages()))
		reasons := map[string]outcome{}
		for _, d := range st.deadLetters() {
			reasons[d.reason] = d
		}
		require.Len(t, reasons, 3)
		assert.Equal(t, 3, reasons[ReasonMaxAttempts].attempts)
		assert.Equal(t, "too large", reasons[ReasonMaxAttempts].err)
		assert.Equal(t, 1, reasons[ReasonRejected].attempts)
		assert.Equal(t, "invalid", reasons[ReasonRejected].err)
		assert.Zero(t, reasons[ReasonExpired].attempts)
		m := r.Metrics()
		assert.EqualValues(t, 3, m.DeadLettered)
		assert.EqualValues(t, 1, m.Expired)
		assert.EqualValues(t, 4, m.Failed) // three poison attempts, one rejection
	})
}

// countingPublisher fails every message and counts its calls.
type countingPublisher struct{ calls atomic.Int32 }

func (p *countingPublisher) Publish(ctx context.Context, msgs []Message, errs []error) {
	p.calls.Add(1)
	for i := range errs {
		errs[i] = errors.New("broker down")
	}
}

// TestRelayBreaker: a broker that is down is not hammered: once the
// breaker opens the relay waits for it.
func TestRelayBreaker(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 1)...)
		st.add(keyed("b", 1)...)
		pub := &countingPublisher{}
		br := breaker.New(breaker.Config{ConsecutiveFailures: 2, OpenDuration: 10 * time.Second})
		r := newRelay(st, pub, RelayConfig{Breaker: br, Backoff: fixedBackoff(100 * time.Millisecond), PollInterval: 50 * time.Millisecond, MaxAttempts: 100})
		stop := start(r)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		assert.EqualValues(t, 2, pub.calls.Load(), "two failed calls open the breaker")
		assert.Equal(t, breaker.Open, br.State())
		time.Sleep(6 * time.Second)
		synctest.Wait()
		assert.EqualValues(t, 3, pub.calls.Load(), "one probe after the open duration")
		require.NoError(t, stop())
		assert.EqualValues(t, 2, st.waiting(), "nothing lost")
	})
}

// refusal is what a policy of the test returns when it refuses a call.
type refusal struct{ after time.Duration }

func (e refusal) Error() string             { return "refused" }
func (e refusal) RetryAfter() time.Duration { return e.after }

// TestRelayBreakerAnyPolicy: RelayConfig.Breaker takes any
// resilience.Policy; while it refuses, the relay claims nothing and waits
// for the refusal's RetryAfter.
func TestRelayBreakerAnyPolicy(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 3)...)
		pub := NewMemoryPublisher()
		var refuse atomic.Bool
		refuse.Store(true)
		var asked atomic.Int64
		p := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			asked.Add(1)
			if refuse.Load() {
				return refusal{after: 2 * time.Second}
			}
			return op(ctx)
		})
		r := newRelay(st, pub, RelayConfig{Breaker: p, PollInterval: 50 * time.Millisecond})
		stop := start(r)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		assert.EqualValues(t, 3, asked.Load(), "asked at 0 s, 2 s and 4 s: the refusal's RetryAfter paces the relay")
		assert.Empty(t, pub.Messages())
		refuse.Store(false)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		require.NoError(t, stop())
		assert.Equal(t, []string{"a/0", "a/1", "a/2"}, payloadsOf(pub.Messages()))
		assert.EqualValues(t, 0, r.Metrics().Failed, "a refused call is no attempt")
	})
}

func TestRelayRetriesStore(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 5)...)
		st.claimErr = []error{errDB, errDB, errDB}
		st.ackErr = []error{errDB}
		var reported []error
		var traces []any
		var mu sync.Mutex
		pub := NewMemoryPublisher()
		r := newRelay(st, pub, RelayConfig{OnError: func(ctx context.Context, err error) {
			mu.Lock()
			reported = append(reported, err)
			traces = append(traces, ctx.Value(traceKey{}))
			mu.Unlock()
		}})
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), traceKey{}, "run-1"))
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		cancel()
		require.NoError(t, <-done)
		for _, tr := range traces {
			assert.Equal(t, "run-1", tr, "OnError gets Run's context")
		}
		assert.Equal(t, []string{"a/0", "a/1", "a/2", "a/3", "a/4"}, payloadsOf(pub.Messages()), "an acknowledgement retried, not the publishing")
		assert.Len(t, reported, 4)
		for _, err := range reported {
			assert.ErrorIs(t, err, errDB)
		}
		assert.EqualValues(t, 4, r.Metrics().StoreErrors)
		assert.Zero(t, st.waiting())
	})
}

// blockingPublisher blocks every call until its context ends, and counts
// the calls.
type blockingPublisher struct {
	calls   atomic.Int32
	entered chan struct{}
}

func (p *blockingPublisher) Publish(ctx context.Context, msgs []Message, errs []error) {
	p.calls.Add(1)
	if p.entered != nil {
		p.entered <- struct{}{}
	}
	<-ctx.Done()
	for i := range errs {
		errs[i] = ctx.Err()
	}
}

func TestRelayShutdownReleasesBatch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 2)...)
		pub := &blockingPublisher{entered: make(chan struct{}, 1)}
		r := newRelay(st, pub, RelayConfig{ShutdownTimeout: 3 * time.Second})
		stop := start(r)
		<-pub.entered
		t0 := time.Now()
		require.NoError(t, stop())
		assert.Equal(t, 3*time.Second, time.Since(t0), "the batch in flight had ShutdownTimeout to finish")
		assert.Zero(t, r.Metrics().Failed)
		assert.Equal(t, 2, st.waiting())
		assert.Zero(t, st.heldKeys(), "released at once, not after the lease TTL")
	})
}

func TestRelayRenewsLease(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 1)...)
		pub := PublisherFunc(func(ctx context.Context, m Message) error {
			select {
			case <-time.After(25 * time.Second): // slower than the lease
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		r := newRelay(st, pub, RelayConfig{LeaseTTL: 30 * time.Second})
		stop := start(r)
		time.Sleep(26 * time.Second)
		synctest.Wait()
		require.NoError(t, stop())
		assert.EqualValues(t, 1, r.Metrics().Published)
		assert.Equal(t, 2, st.renewed(), "renewed every 10 s")
	})
}

// TestRelayStopsWhenLeaseRunsOut: when the lease cannot be renewed (the
// database is unreachable), the relay stops publishing before the lease
// expires, so that the relay that takes the keys over is alone with them.
func TestRelayStopsWhenLeaseRunsOut(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 1)...)
		st.renewErr = errDB
		cut := make(chan time.Duration, 1)
		pub := PublisherFunc(func(ctx context.Context, m Message) error {
			t0 := time.Now()
			<-ctx.Done()
			select {
			case cut <- time.Since(t0):
			default:
			}
			return ctx.Err()
		})
		r := newRelay(st, pub, RelayConfig{LeaseTTL: 10 * time.Second})
		stop := start(r)
		assert.Equal(t, 8*time.Second, <-cut, "cut at four fifths of the TTL")
		synctest.Wait()
		require.NoError(t, stop())
		assert.Zero(t, r.Metrics().Failed)
		assert.Positive(t, r.Metrics().StoreErrors)
	})
}

func TestRelayNotifierWakes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		n := NewLocalNotifier()
		pub := NewMemoryPublisher()
		r := newRelay(st, pub, RelayConfig{Notifier: n, PollInterval: time.Hour})
		stop := start(r)
		synctest.Wait()
		t0 := time.Now()
		st.add(keyed("a", 1)...)
		n.Notify()
		synctest.Wait()
		assert.Equal(t, 1, pub.Len())
		assert.Equal(t, t0, time.Now(), "published without waiting for a poll")
		require.NoError(t, stop())
	})
}

func TestRelayPollsWithoutNotifier(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		pub := NewMemoryPublisher()
		r := newRelay(st, pub, RelayConfig{PollInterval: 2 * time.Second})
		stop := start(r)
		synctest.Wait()
		st.add(keyed("a", 1)...)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Zero(t, pub.Len())
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, 1, pub.Len())
		require.NoError(t, stop())
	})
}

func TestRelayRunTwice(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := newRelay(newFakeStore(), NewMemoryPublisher(), RelayConfig{})
		stop := start(r)
		synctest.Wait()
		assert.ErrorIs(t, r.Run(context.Background()), ErrRunning)
		require.NoError(t, stop())
		stop = start(r) // may run again once stopped
		synctest.Wait()
		require.NoError(t, stop())
	})
}

func TestRelayPublisherPanic(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 2)...)
		var calls atomic.Int32
		pub := PublisherFunc(func(ctx context.Context, m Message) error {
			if calls.Add(1) == 1 {
				panic("publisher bug")
			}
			return nil
		})
		r := newRelay(st, pub, RelayConfig{Backoff: fixedBackoff(time.Second)})
		stop := start(r)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		require.NoError(t, stop())
		assert.EqualValues(t, 2, r.Metrics().Failed, "the panic failed the whole call")
		assert.EqualValues(t, 2, r.Metrics().Published, "then both went")
	})
}

func TestRelayRetention(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 3)...)
		r := newRelay(st, NewMemoryPublisher(), RelayConfig{Retention: time.Hour})
		stop := start(r)
		synctest.Wait()
		assert.Equal(t, 3, st.stored(), "kept")
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Equal(t, 2, st.purged(), "at start and once a minute")
		assert.Equal(t, 3, st.stored(), "kept for an hour")
		time.Sleep(time.Hour)
		synctest.Wait()
		require.NoError(t, stop())
		assert.Zero(t, st.stored(), "purged after the retention")
	})
}

// TestRelaysShareKeys: two relays on one store never hold a key at once,
// and keep per-key order.
func TestRelaysShareKeys(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		for k := range 10 {
			st.add(keyed(fmt.Sprintf("k%d", k), 50)...)
		}
		var mu sync.Mutex
		inflight := map[string]bool{}
		var got []string
		overlap := false
		pub := PublisherFunc(func(ctx context.Context, m Message) error {
			mu.Lock()
			if inflight[m.Key] {
				overlap = true
			}
			inflight[m.Key] = true
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inflight[m.Key] = false
			got = append(got, string(m.Payload))
			mu.Unlock()
			return nil
		})
		r1 := newRelay(st, pub, RelayConfig{BatchSize: 30})
		r2 := newRelay(st, pub, RelayConfig{BatchSize: 30})
		stop1, stop2 := start(r1), start(r2)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.NoError(t, stop1())
		require.NoError(t, stop2())
		assert.False(t, overlap)
		assert.Len(t, got, 500)
		next := map[string]int{}
		for _, p := range got {
			var k string
			var i int
			_, err := fmt.Sscanf(p, "k%1s/%d", &k, &i)
			require.NoError(t, err)
			assert.Equal(t, next[k], i, p)
			next[k]++
		}
		assert.Positive(t, r1.Metrics().Published)
		assert.Positive(t, r2.Metrics().Published)
	})
}

func TestNewRelayPanics(t *testing.T) {
	t.Parallel()
	pub := NewMemoryPublisher()
	for _, tc := range []struct {
		name string
		c    RelayConfig
		want string
	}{
		{"negative batch", RelayConfig{BatchSize: -1}, "negative"},
		{"negative window", RelayConfig{ScanWindow: -1}, "negative"},
		{"negative bytes", RelayConfig{BatchBytes: -1}, "negative"},
		{"negative attempts", RelayConfig{MaxAttempts: -1}, "negative"},
		{"negative poll", RelayConfig{PollInterval: -time.Second}, "negative duration"},
		{"negative retention", RelayConfig{Retention: -time.Second}, "negative duration"},
		{"short lease", RelayConfig{LeaseTTL: time.Millisecond}, "LeaseTTL"},
		{"long id", RelayConfig{ID: string(make([]byte, 65))}, "ID longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.PanicsWithValue(t, "outbox: RelayConfig"+panicTail(tc.want), func() { newRelay(newFakeStore(), pub, tc.c) })
		})
	}
	assert.PanicsWithValue(t, "outbox: RelayConfig.Breaker is a nil *breaker.Breaker", func() {
		newRelay(newFakeStore(), pub, RelayConfig{Breaker: (*breaker.Breaker)(nil)})
	})
	assert.PanicsWithValue(t, "outbox: NewRelay with a nil *Outbox", func() { NewRelay(nil, pub, RelayConfig{}) })
	assert.PanicsWithValue(t, "outbox: NewRelay with a nil Publisher", func() { newRelay(newFakeStore(), nil, RelayConfig{}) })
}

func panicTail(want string) string {
	switch want {
	case "negative":
		return ": negative BatchSize, BatchBytes, ScanWindow or MaxAttempts"
	case "negative duration":
		return ": negative duration"
	case "LeaseTTL":
		return ".LeaseTTL below 100 ms"
	default:
		return ".ID longer than 64 bytes"
	}
}

// TestDefaultBackoff: without RelayConfig.Backoff a message waits 1 s,
// 2 s, 4 s, … up to 5 min after its failures, each spread between half of
// it and all of it.
func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	r := newRelay(newFakeStore(), NewMemoryPublisher(), RelayConfig{})
	for _, tc := range []struct {
		attempts int
		base     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {9, 256 * time.Second}, {10, 5 * time.Minute}, {100, 5 * time.Minute}} {
		for range 20 {
			d, ok := r.c.Backoff(tc.attempts)
			require.True(t, ok)
			assert.GreaterOrEqual(t, d, tc.base/2, "attempt %d", tc.attempts)
			assert.LessOrEqual(t, d, tc.base, "attempt %d", tc.attempts)
		}
	}
}

// TestRelayBackoffSchedule: a message that keeps failing is tried again
// after the delays of RelayConfig.Backoff for its count of failures, its
// key waiting with it.
func TestRelayBackoffSchedule(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 2)...)
		var mu sync.Mutex
		var tries []time.Duration
		t0 := time.Now()
		pub := PublisherFunc(func(_ context.Context, m Message) error {
			if string(m.Payload) != "a/0" {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			tries = append(tries, time.Since(t0))
			if len(tries) < 5 {
				return errors.New("nack")
			}
			return nil
		})
		bo := retry.New(retry.Config{InitialDelay: time.Second, Multiplier: 3, MaxDelay: 10 * time.Second, Jitter: retry.JitterNone})
		r := newRelay(st, pub, RelayConfig{Backoff: bo.Delay, PollInterval: 100 * time.Millisecond})
		stop := start(r)
		time.Sleep(time.Minute)
		synctest.Wait()
		require.NoError(t, stop())

		// Waits of 1 s, 3 s, 9 s and 10 s (capped), each noticed at the
		// next poll.
		var gaps []time.Duration
		for i := 1; i < len(tries); i++ {
			gaps = append(gaps, (tries[i] - tries[i-1]).Round(time.Second))
		}
		assert.Equal(t, []time.Duration{time.Second, 3 * time.Second, 9 * time.Second, 10 * time.Second}, gaps)
		assert.EqualValues(t, 2, r.Metrics().Published, "a/1 went after a/0")
		assert.EqualValues(t, 4, r.Metrics().Failed)
	})
}

// TestRelayBackoffStops: a backoff.BackOff that says stop dead-letters the
// message as MaxAttempts does.
func TestRelayBackoffStops(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 1)...)
		pub := NewMemoryPublisher()
		pub.SetFailure(func(Message) error { return errors.New("nack") })
		bo := retry.New(retry.Config{Jitter: retry.JitterNone, Backoff: func() backoff.BackOff {
			return backoff.WithMaxRetries(backoff.NewConstantBackOff(time.Second), 1)
		}})
		r := newRelay(st, pub, RelayConfig{Backoff: bo.Delay, MaxAttempts: 10, PollInterval: 100 * time.Millisecond})
		stop := start(r)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.NoError(t, stop())

		dl := st.deadLetters()
		require.Len(t, dl, 1)
		assert.Equal(t, ReasonMaxAttempts, dl[0].reason)
		assert.Equal(t, 2, dl[0].attempts, "one retry, then the backoff stopped")
		assert.EqualValues(t, 2, r.Metrics().Failed)
	})
}

// TestRelayStopsWhenLeaseTaken: a renewal that finds its keys taken over
// (the relay was paused past its TTL) stops the publish at once.
func TestRelayStopsWhenLeaseTaken(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newFakeStore()
		st.add(keyed("a", 1)...)
		cut := make(chan time.Duration, 1)
		pub := PublisherFunc(func(ctx context.Context, m Message) error {
			t0 := time.Now()
			st.mu.Lock()
			st.leases["a"] = fakeLease{owner: "other", until: time.Now().Add(time.Hour)}
			st.mu.Unlock()
			<-ctx.Done()
			select {
			case cut <- time.Since(t0):
			default:
			}
			return ctx.Err()
		})
		r := newRelay(st, pub, RelayConfig{LeaseTTL: 30 * time.Second})
		stop := start(r)
		assert.Equal(t, 10*time.Second, <-cut, "cut at the first renewal")
		synctest.Wait()
		require.NoError(t, stop())
		assert.Zero(t, r.Metrics().Published)
		assert.Zero(t, r.Metrics().Failed)
	})
}

// outagePublisher stands for a broker that is unreachable until up: until
// then the first message of each key fails with an error matching
// ErrUnavailable, the rest of the key with ErrNotSent. Messages whose
// payload is "poison" are refused once the broker is up.
type outagePublisher struct {
	up       time.Time
	mu       sync.Mutex
	calls    int
	got      []string
	lastSent time.Time
}

type downErr struct{}

func (downErr) Error() string        { return "connection refused" }
func (downErr) Is(target error) bool { return target == ErrUnavailable }

func (p *outagePublisher) Publish(ctx context.Context, msgs []Message, errs []error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	down := time.Now().Before(p.up)
	failedKeys := map[string]bool{}
	for i, m := range msgs {
		switch {
		case failedKeys[m.Key]:
			errs[i] = ErrNotSent
		case down:
			errs[i] = fmt.Errorf("publish %s: %w", m.ID, downErr{})
			failedKeys[m.Key] = true
		case string(m.Payload) == "poison":
			errs[i] = errors.New("message too large")
			failedKeys[m.Key] = true
		default:
			errs[i] = nil
			p.got = append(p.got, string(m.Payload))
			p.lastSent = time.Now()
		}
	}
}

// TestRelayOutageCountsNoAttempts: a broker unreachable for 10 minutes
// (errors matching ErrUnavailable) dead-letters nothing, even with
// MaxAttempts 3, delays no message of its own, and the backlog drains as
// soon as the breaker lets a call through again; the breaker alone paces
// the relay meanwhile. A poison message still counts its attempts and is
// dead-lettered.
func TestRelayOutageCountsNoAttempts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const outage = 10 * time.Minute
		st := newFakeStore()
		st.add(keyed("a", 50)...)
		st.add(keyed("b", 50)...)
		st.add(Message{Topic: "t", Key: "p", Payload: []byte("poison")})
		pub := &outagePublisher{up: time.Now().Add(outage)}
		r := newRelay(st, pub, RelayConfig{MaxAttempts: 3, PollInterval: 50 * time.Millisecond, BatchSize: 20,
			Backoff: fixedBackoff(time.Second)}) // the default breaker
		stop := start(r)

		time.Sleep(outage / 2)
		st.add(keyed("c", 30)...) // written during the outage
		time.Sleep(outage/2 - time.Second)
		synctest.Wait()
		pub.mu.Lock()
		calls := pub.calls
		pub.mu.Unlock()
		// 5 calls open the breaker, then one probe per open period (1 s
		// doubling to 5 s, jitter shortening it by up to a fifth).
		assert.LessOrEqual(t, calls, 5+int(outage/(4*time.Second))+1, "the breaker paces the relay")
		assert.Empty(t, st.deadLetters(), "an outage dead-letters nothing")
		st.mu.Lock()
		for _, row := range st.rows {
			assert.Zero(t, row.msg.Attempts, "no attempt counted during the outage")
			assert.False(t, row.available.After(time.Now()), "no message pushed back")
		}
		st.mu.Unlock()

		// The broker is back: the next probe (at most one open period,
		// 5 s, later) closes the breaker and everything flows at once.
		time.Sleep(6 * time.Second)
		synctest.Wait()
		pub.mu.Lock()
		got, last := len(pub.got), pub.lastSent
		pub.mu.Unlock()
		assert.Equal(t, 130, got, "the backlog drained")
		assert.LessOrEqual(t, last.Sub(pub.up), 5*time.Second)
		time.Sleep(5 * time.Second) // the poison message's own attempts
		synctest.Wait()
		require.NoError(t, stop())
		dead := st.deadLetters()
		require.Len(t, dead, 1)
		assert.Equal(t, ReasonMaxAttempts, dead[0].reason)
		assert.Equal(t, 3, dead[0].attempts, "only the broker's refusals count")
		assert.Zero(t, st.waiting())
		m := r.Metrics()
		assert.EqualValues(t, 3, m.Failed)
		assert.Positive(t, m.Unavailable)
		assert.EqualValues(t, 130, m.Published)
	})
}
