package redis_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/ratelimit"
	"github.com/resiliencekit/resilience/ratelimit/redis"
)

func nop(context.Context) error { return nil }

func TestNewPanics(t *testing.T) {
	t.Parallel()
	c := &downScripter{}
	tests := []struct {
		name string
		fn   func()
	}{
		{"nil client", func() { redis.New(nil, 1, 1, redis.Config{}) }},
		{"negative rate", func() { redis.New(c, -1, 1, redis.Config{}) }},
		{"negative burst", func() { redis.New(c, 1, -1, redis.Config{}) }},
		{"negative RetryInterval", func() { redis.New(c, 1, 1, redis.Config{RetryInterval: -2}) }},
		{"negative MaxKeys", func() { redis.New(c, 1, 1, redis.Config{GroupConfig: ratelimit.GroupConfig{MaxKeys: -1}}) }},
		{"negative MaxPause", func() {
			redis.New(c, 1, 1, redis.Config{GroupConfig: ratelimit.GroupConfig{Config: ratelimit.Config{MaxPause: -2}}})
		}},
		{"unknown HeaderMode", func() {
			redis.New(c, 1, 1, redis.Config{GroupConfig: ratelimit.GroupConfig{Config: ratelimit.Config{Headers: 7}}})
		}},
		{"unknown FailMode", func() { redis.New(c, 1, 1, redis.Config{OnFailure: 9}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				r := recover()
				require.NotNil(t, r)
				assert.Contains(t, r, "ratelimit/redis: ")
			}()
			tt.fn()
		})
	}
}

func TestTake(t *testing.T) {
	t.Parallel()
	c := sharedRedis(t)
	ctx := context.Background()
	pre := prefix(t)
	l := redis.New(c, 1, 3, redis.Config{Prefix: pre, GroupConfig: ratelimit.GroupConfig{Config: ratelimit.Config{Name: "shared"}}})
	for i := range 3 {
		d, err := l.Take(ctx, "user", 1)
		require.NoError(t, err)
		require.True(t, d.Allowed, "call %d of the burst", i)
		assert.Equal(t, 2-i, d.Remaining)
		assert.Equal(t, ratelimit.Quota{Rate: 1, Burst: 3, Name: "shared"}, d.Quota)
		assert.InDelta(t, float64(time.Duration(i+1)*time.Second), float64(d.Reset), float64(200*time.Millisecond))
	}
	d, err := l.Take(ctx, "user", 1)
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.Equal(t, ratelimit.ReasonRate, d.Reason)
	assert.Zero(t, d.Remaining)
	assert.Positive(t, d.RetryAfter)
	assert.LessOrEqual(t, d.RetryAfter, time.Second)
	err = d.Err("user")
	require.ErrorIs(t, err, ratelimit.ErrLimited)

	// The bucket is one key with a TTL: it vanishes once full again.
	ttl, err := c.PTTL(ctx, pre+"user").Result()
	require.NoError(t, err)
	assert.Positive(t, ttl)
	assert.LessOrEqual(t, ttl, 3001*time.Millisecond)

	d, _ = l.Take(ctx, "other", 3)
	assert.True(t, d.Allowed, "keys are independent")
	d, _ = l.Take(ctx, "other", 4)
	assert.Equal(t, ratelimit.ReasonTooCostly, d.Reason)
	d, _ = l.Take(ctx, "free", 0)
	assert.True(t, d.Allowed)
	assert.Equal(t, 3, d.Remaining)
	n, err := c.Exists(ctx, pre+"free").Result()
	require.NoError(t, err)
	assert.Zero(t, n, "a free call stores nothing")
	assert.True(t, l.Available())
}

func TestTiers(t *testing.T) {
	t.Parallel()
	c := sharedRedis(t)
	ctx := context.Background()
	tiers := map[string]ratelimit.Quota{"pro": {Rate: 0.01, Burst: 20}, "trial": {Rate: rate.Every(24 * time.Hour), Burst: 1}, "root": {Rate: rate.Inf}}
	l := redis.New(c, 0.01, 2, redis.Config{Prefix: prefix(t), GroupConfig: ratelimit.GroupConfig{
		QuotaFor: func(k string) (ratelimit.Quota, bool) { v, ok := tiers[k]; return v, ok },
	}})
	count := func(key string) int {
		n := 0
		for n < 100 {
			d, err := l.Take(ctx, key, 1)
			require.NoError(t, err)
			if !d.Allowed {
				break
			}
			n++
		}
		return n
	}
	assert.Equal(t, 2, count("free"))
	assert.Equal(t, 20, count("pro"))
	assert.Equal(t, 1, count("trial"))
	assert.Equal(t, 100, count("root"))
	assert.Equal(t, tiers["pro"], l.QuotaFor("pro"))
}

func TestWaitAndRefund(t *testing.T) {
	t.Parallel()
	c := sharedRedis(t)
	ctx := context.Background()
	l := redis.New(c, 2, 1, redis.Config{Prefix: prefix(t), GroupConfig: ratelimit.GroupConfig{
		Config: ratelimit.Config{MaxWait: 10 * time.Second, MaxQueue: 1}}})
	require.NoError(t, l.Wait(ctx, "k"))
	start := time.Now()
	require.NoError(t, l.Wait(ctx, "k"), "waits for the next token")
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	// Reserve the token after next, then give up: the reservation is
	// returned, so the next call waits for one token, not two.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- l.Wait(cctx, "k") }()
	require.Eventually(t, func() bool { return l.Waiting() == 1 }, 5*time.Second, time.Millisecond)
	err := l.Wait(ctx, "k")
	var le *ratelimit.LimitedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, ratelimit.ReasonQueueFull, le.Reason())
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	d, err := l.Take(ctx, "k", 1)
	require.NoError(t, err)
	if !d.Allowed {
		assert.LessOrEqual(t, d.RetryAfter, 500*time.Millisecond)
	}

	// A wait longer than MaxWait, or than the deadline, is refused at once.
	short := redis.New(c, 0.1, 1, redis.Config{Prefix: prefix(t), GroupConfig: ratelimit.GroupConfig{
		Config: ratelimit.Config{MaxWait: time.Second}}})
	require.NoError(t, short.Wait(ctx, "k"))
	start = time.Now()
	err = short.Wait(ctx, "k")
	require.ErrorAs(t, err, &le)
	assert.Equal(t, ratelimit.ReasonRate, le.Reason())
	assert.Greater(t, le.RetryAfter(), 9*time.Second)
	assert.Less(t, time.Since(start), 5*time.Second)
	dctx, dcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer dcancel()
	require.ErrorIs(t, l.Wait(dctx, "deadline-key"), nil)
	require.ErrorIs(t, l.Wait(dctx, "deadline-key"), ratelimit.ErrLimited)
}

func TestDoContractAndPushback(t *testing.T) {
	t.Parallel()
	c := sharedRedis(t)
	pre := prefix(t)
	a := redis.New(c, 100, 10, redis.Config{Prefix: pre})
	b := redis.New(c, 100, 10, redis.Config{Prefix: pre}) // another process, say
	ctx := resilience.WithKey(context.Background(), "api.example.com")

	boom := errors.New("boom")
	calls := 0
	assert.Same(t, boom, a.Do(ctx, func(context.Context) error { calls++; return boom }))
	assert.Equal(t, 1, calls)
	assert.PanicsWithValue(t, "op", func() { _ = a.Do(ctx, func(context.Context) error { panic("op") }) })

	err := a.Do(ctx, func(context.Context) error {
		return &resilience.StatusError{Code: http.StatusTooManyRequests, Wait: time.Minute}
	})
	require.Error(t, err)
	err = b.Do(ctx, nop)
	require.ErrorIs(t, err, ratelimit.ErrLimited, "the pause is shared through Redis")
	d, _ := resilience.RetryAfter(err)
	assert.Greater(t, d, 50*time.Second)
	require.NoError(t, b.Do(resilience.WithKey(context.Background(), "other.example.com"), nop))
}

type recorder struct {
	h    http.Header
	code int
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return len(p), nil
}
func (r *recorder) WriteHeader(code int) { r.code = code }

// TestFailModes runs against a Redis that never answers, in virtual time.
func TestFailModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode    redis.FailMode
		allowed int // of 5 calls
		status  int // what resilience.Handler answers the 5th call
	}{
		{redis.FailOpen, 5, 200},
		{redis.FailClosed, 0, http.StatusServiceUnavailable},
		{redis.FailLocal, 2, http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				down := &downScripter{}
				var changes []bool
				var mu sync.Mutex
				l := redis.New(down, 1, 2, redis.Config{OnFailure: tt.mode, RetryInterval: time.Second,
					OnStateChange: func(ctx context.Context, up bool, err error) {
						assert.Equal(t, "caller", ctx.Value(ctxKey{}), "the hook gets the caller's context")
						mu.Lock()
						changes = append(changes, up)
						mu.Unlock()
						if !up {
							assert.ErrorIs(t, err, errDown)
						}
					}})
				ctx := context.WithValue(context.Background(), ctxKey{}, "caller")
				allowed := 0
				for range 4 {
					d, err := l.Take(ctx, "k", 1)
					if tt.mode == redis.FailClosed {
						var le *ratelimit.LimitedError
						require.ErrorAs(t, err, &le)
						assert.Equal(t, ratelimit.ReasonUnavailable, le.Reason())
						assert.Equal(t, http.StatusServiceUnavailable, le.HTTPStatus())
						assert.Positive(t, le.RetryAfter())
						continue
					}
					require.NoError(t, err)
					if d.Allowed {
						allowed++
					}
				}
				if l.Do(resilience.WithKey(ctx, "k"), nop) == nil {
					allowed++
				}
				assert.Equal(t, tt.allowed, allowed)
				assert.Equal(t, int32(1), down.calls.Load(), "Redis is left alone for RetryInterval")
				assert.False(t, l.Available())
				m := l.Metrics()
				assert.False(t, m.Available)
				assert.Equal(t, uint64(1), m.Outages)
				assert.Equal(t, uint64(tt.allowed), m.Admitted)
				if tt.mode == redis.FailClosed {
					assert.Equal(t, uint64(5), m.Refused[ratelimit.ReasonUnavailable])
				} else {
					assert.Equal(t, uint64(5-tt.allowed), m.Refused[ratelimit.ReasonRate]+m.Refused[ratelimit.ReasonUnavailable])
				}

				w := &recorder{h: http.Header{}}
				r, _ := http.NewRequest("GET", "/", nil)
				r.RemoteAddr = "192.0.2.1:1"
				resilience.NewHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
					resilience.HandlerConfig{Key: func(*http.Request) string { return "k" }}, l).ServeHTTP(w, r)
				if w.code == 0 {
					w.code = 200
				}
				assert.Equal(t, tt.status, w.code)

				time.Sleep(time.Second)
				_, _ = l.Take(ctx, "k", 1)
				assert.Equal(t, int32(2), down.calls.Load(), "retried after RetryInterval")
				mu.Lock()
				assert.Equal(t, []bool{false}, changes)
				mu.Unlock()
			})
		})
	}
}

// TestOutageAndRecovery kills a private Redis in the middle of the test and
// starts it again: the limiter fails closed during the outage and goes back
// to Redis by itself (its script cache is empty after the restart).
func TestOutageAndRecovery(t *testing.T) {
	t.Parallel()
	srv := startPrivateRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.addr(), DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	var ups, downs atomic.Int32
	l := redis.New(c, 1, 1000, redis.Config{OnFailure: redis.FailClosed, RetryInterval: 50 * time.Millisecond,
		OnStateChange: func(_ context.Context, up bool, _ error) {
			if up {
				ups.Add(1)
			} else {
				downs.Add(1)
			}
		}})
	ctx := context.Background()
	d, err := l.Take(ctx, "k", 1)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	assert.Equal(t, 999, d.Remaining)

	srv.stop()
	_, err = l.Take(ctx, "k", 1)
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	var le *ratelimit.LimitedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, ratelimit.ReasonUnavailable, le.Reason())
	assert.NotNil(t, le.Unwrap())
	assert.False(t, l.Available())
	assert.Equal(t, int32(1), downs.Load())

	srv.start()
	require.Eventually(t, func() bool {
		d, err := l.Take(ctx, "k", 1)
		return err == nil && d.Allowed
	}, 10*time.Second, 10*time.Millisecond, "the limiter recovers when Redis is back")
	assert.True(t, l.Available())
	assert.Equal(t, int32(1), ups.Load())
	d, err = l.Take(ctx, "k", 1)
	require.NoError(t, err)
	assert.Equal(t, 998, d.Remaining, "a fresh Redis holds a fresh bucket")
}

// TestAccuracy: 8 independent clients (each with its own connection pool
// and Limiter, as 8 processes would have) share one limit of 250 calls per
// second with a burst of 250 for 3 s, asking as fast as they can. GCRA on
// the server's clock admits burst + rate × elapsed, elapsed measured on the
// same clock; the admitted count must be within ±2 % of that. (The burst
// lets the bucket ride out a stall of the clients of up to a second, as a
// loaded test machine may cause, without losing tokens.)
func TestAccuracy(t *testing.T) {
	addr := sharedRedis(t).Options().Addr
	const (
		clients  = 8
		r        = 250
		burst    = 250
		duration = 3 * time.Second
	)
	pre := prefix(t)
	ctx := context.Background()
	var admitted, asked atomic.Int64
	var wg sync.WaitGroup
	probe := goredis.NewClient(&goredis.Options{Addr: addr})
	defer probe.Close()
	serverTime := func() time.Time {
		tm, err := probe.Time(ctx).Result()
		require.NoError(t, err)
		return tm
	}
	stop := make(chan struct{})
	start := serverTime()
	for range clients {
		c := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: 2})
		l := redis.New(c, r, burst, redis.Config{Prefix: pre})
		wg.Go(func() {
			defer c.Close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, err := l.Take(ctx, "global", 1)
				if err != nil {
					t.Error(err)
					return
				}
				asked.Add(1)
				if d.Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	time.Sleep(duration)
	close(stop)
	wg.Wait()
	elapsed := serverTime().Sub(start)
	want := burst + r*elapsed.Seconds()
	got := float64(admitted.Load())
	t.Logf("admitted %v of %d asked; expected %.1f over %v (%+.2f %%)", got, asked.Load(), want, elapsed, 100*(got-want)/want)
	assert.InDelta(t, want, got, 0.02*want)
}

type ctxKey struct{}

func TestNameAndMetrics(t *testing.T) {
	t.Parallel()
	c := sharedRedis(t)
	l := redis.New(c, 0.01, 2, redis.Config{Prefix: prefix(t), GroupConfig: ratelimit.GroupConfig{Config: ratelimit.Config{Name: "api"}}})
	assert.Equal(t, "api", l.Name())
	ctx := context.Background()
	for range 3 {
		_ = l.DoKey(ctx, "k", nop)
	}
	_, _ = l.Take(ctx, "k", 5)
	m := l.Metrics()
	assert.Equal(t, redis.Metrics{Admitted: 2, Refused: refused(ratelimit.ReasonRate, ratelimit.ReasonTooCostly), Available: true}, m)
}

// refused returns the Refused counts of one refusal for each reason.
func refused(reasons ...ratelimit.Reason) (r [ratelimit.ReasonUnavailable + 1]uint64) {
	for _, reason := range reasons {
		r[reason]++
	}
	return r
}

// TestLongKeysAreBounded: a key longer than 128 bytes is kept in Redis as
// "sha256:" and its hex SHA-256, as a ratelimit.Group holds it, with a
// bucket of its own; errors name the caller's key.
func TestLongKeysAreBounded(t *testing.T) {
	t.Parallel()
	c := sharedRedis(t)
	ctx := context.Background()
	pre := prefix(t)
	l := redis.New(c, 0.01, 1, redis.Config{Prefix: pre})
	long := strings.Repeat("k", 10<<10)
	d, err := l.Take(ctx, long, 1)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	d, _ = l.Take(ctx, long, 1)
	assert.False(t, d.Allowed, "the long key keeps its bucket")
	d, _ = l.Take(ctx, long[:len(long)-1]+"x", 1)
	assert.True(t, d.Allowed, "another long key has its own")
	err = l.Wait(ctx, long)
	var le *ratelimit.LimitedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, long, le.Key())

	sum := sha256.Sum256([]byte(long))
	n, err := c.Exists(ctx, pre+"sha256:"+hex.EncodeToString(sum[:])).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "the bucket is kept under the hash")
	keys, err := c.Keys(ctx, pre+"*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		assert.LessOrEqual(t, len(k)-len(pre), 128)
	}
}
