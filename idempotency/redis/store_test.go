package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/idempotency"
	"github.com/resiliencekit/resilience/idempotency/idempotencytest"
	"github.com/resiliencekit/resilience/idempotency/redis"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	// Both variants share the prefix of openChild, the crash child's
	// store; the suite's keys are random, so they never meet.
	prefix := runPrefix("conformance")
	cleanup(t, prefix)
	for _, tt := range []struct {
		name     string
		protocol int // RESP version of the client: replies are typed differently
		maxOut   int // Config.MaxOutcomeBytes
	}{
		{"RESP3/default", 3, 0},
		{"RESP2/small", 2, 4096},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			max := tt.maxOut
			if max == 0 {
				max = idempotency.DefaultMaxOutcomeBytes
			}
			idempotencytest.Run(t, idempotencytest.Suite{
				New: func(t testing.TB) idempotency.Store {
					return redis.NewStore(client(t, tt.protocol, nil), redis.Config{Prefix: prefix, MaxOutcomeBytes: tt.maxOut})
				},
				Child:           openChild,
				MaxOutcomeBytes: max,
			})
		})
	}
}

// TestRedisExpiry checks that Redis is told to reclaim each record Grace
// after its Expires, by reading the absolute expiry Redis holds
// (PEXPIRETIME), and that PTTL agrees.
func TestRedisExpiry(t *testing.T) {
	t.Parallel()
	prefix := runPrefix("expiry")
	cleanup(t, prefix)
	rdb := client(t, 0, nil)
	for _, tt := range []struct {
		name  string
		grace time.Duration
		want  time.Duration // the grace Redis gets
	}{
		{"zero means DefaultGrace", 0, redis.DefaultGrace},
		{"ten seconds", 10 * time.Second, 10 * time.Second},
		{"rounded up to the millisecond", 1500 * time.Microsecond, 2 * time.Millisecond},
		{"None", resilience.None, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, t0 := t.Context(), now()
			st := redis.NewStore(rdb, redis.Config{Prefix: prefix, Grace: tt.grace})
			k := t.Name()
			expiry := func(expires time.Time) {
				t.Helper()
				at, err := rdb.Do(ctx, "PEXPIRETIME", prefix+k).Int64()
				require.NoError(t, err)
				assert.Equal(t, expires.Add(tt.want).UnixMilli(), at, "PEXPIREAT is Expires + Grace")
				ttl, err := rdb.PTTL(ctx, prefix+k).Result()
				require.NoError(t, err)
				// A generous range: the test may run late on a busy machine,
				// but the TTL can never be longer than asked.
				assert.LessOrEqual(t, ttl, time.Until(expires.Add(tt.want))+time.Second)
				assert.Greater(t, ttl, time.Until(expires.Add(tt.want))-time.Minute)
				exp, err := rdb.HGet(ctx, prefix+k, "exp").Result()
				require.NoError(t, err)
				assert.Equal(t, strconv.FormatInt(expires.UnixMilli(), 10), exp, "the record's own Expires")
			}

			r := newRecord(k, t0.Add(time.Hour))
			_, ok, err := st.Acquire(ctx, r, t0)
			require.NoError(t, err)
			require.True(t, ok)
			expiry(r.Expires)

			require.NoError(t, st.Extend(ctx, k, r.Token, t0.Add(2*time.Hour)))
			expiry(t0.Add(2 * time.Hour))

			r.Done, r.Outcome, r.Expires = true, []byte("outcome"), t0.Add(3*time.Hour)
			require.NoError(t, st.Complete(ctx, r, t0))
			expiry(r.Expires)
		})
	}
}

// TestRedisReclaims checks that a record whose Expires plus Grace has
// passed by the server's clock is deleted by Redis at once, while the
// caller's clock decides liveness as long as the record is there.
func TestRedisReclaims(t *testing.T) {
	t.Parallel()
	prefix := runPrefix("reclaims")
	cleanup(t, prefix)
	rdb := client(t, 0, nil)
	ctx, t0 := t.Context(), now()
	st := redis.NewStore(rdb, redis.Config{Prefix: prefix, Grace: time.Second})

	// By the caller's clock (an hour behind) the record is live, but Redis
	// reclaims it a second after its Expires, by its own clock: at once.
	k := "past"
	r := newRecord(k, t0.Add(-time.Minute))
	_, ok, err := st.Acquire(ctx, r, t0.Add(-time.Hour))
	require.NoError(t, err)
	require.True(t, ok)
	n, err := rdb.Exists(ctx, prefix+k).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "Redis dropped the record whose grace is over")
	_, ok, err = st.Acquire(ctx, newRecord(k, t0.Add(time.Hour)), t0.Add(-time.Hour))
	require.NoError(t, err)
	assert.True(t, ok, "a clock lagging more than Grace loses the record: why Grace must cover the skew")

	// Within the grace, the caller's clock decides: the record is kept
	// after its Expires and is not live.
	k = "grace"
	st = redis.NewStore(rdb, redis.Config{Prefix: prefix, Grace: time.Hour})
	r = newRecord(k, t0.Add(-time.Minute))
	_, ok, err = st.Acquire(ctx, r, t0.Add(-2*time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = st.Acquire(ctx, newRecord(k, t0.Add(time.Hour)), t0.Add(-2*time.Minute+time.Second))
	require.NoError(t, err)
	assert.False(t, ok, "live by the caller's clock, though expired by the server's")
	n, err = rdb.Exists(ctx, prefix+k).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	// Times far from now, the zero time among them, are kept exactly.
	for i, exp := range []time.Time{{}, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)} {
		k := fmt.Sprintf("far%d", i)
		_, ok, err := st.Acquire(ctx, newRecord(k, exp), exp.Add(-time.Hour))
		require.NoError(t, err)
		require.True(t, ok)
	}
	live, ok, err := st.Acquire(ctx, newRecord("far1", t0), t0)
	require.NoError(t, err)
	require.False(t, ok)
	assert.True(t, live.Expires.Equal(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)), "got %v", live.Expires)
}

func TestNewStorePanics(t *testing.T) {
	t.Parallel()
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = rdb.Close() })
	for _, tt := range []struct {
		name   string
		client goredis.UniversalClient
		c      redis.Config
	}{
		{"nil client", nil, redis.Config{}},
		{"typed nil client", (*goredis.Client)(nil), redis.Config{}},
		{"typed nil cluster client", (*goredis.ClusterClient)(nil), redis.Config{}},
		{"negative MaxOutcomeBytes", rdb, redis.Config{MaxOutcomeBytes: -1}},
		{"MaxOutcomeBytes over the limit", rdb, redis.Config{MaxOutcomeBytes: redis.MaxOutcomeBytesLimit + 1}},
		{"negative Grace", rdb, redis.Config{Grace: -time.Second}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := func() (msg any) {
				defer func() { msg = recover() }()
				redis.NewStore(tt.client, tt.c)
				return nil
			}()
			require.IsType(t, "", msg, "NewStore panics with a message")
			assert.True(t, strings.HasPrefix(msg.(string), "idempotency/redis: "), "message %q", msg)
		})
	}
	assert.NotPanics(t, func() {
		redis.NewStore(rdb, redis.Config{MaxOutcomeBytes: redis.MaxOutcomeBytesLimit, Grace: resilience.Forever})
	})
}

// TestNoRoundTrip checks that bad input and cancelled contexts are refused
// before anything is sent to Redis.
func TestNoRoundTrip(t *testing.T) {
	t.Parallel()
	prefix := runPrefix("noroundtrip")
	cleanup(t, prefix)
	var sent atomic.Int64
	rdb := client(t, 0, &sent)
	st := redis.NewStore(rdb, redis.Config{Prefix: prefix}) // default MaxOutcomeBytes
	ctx, t0 := t.Context(), now()
	good := newRecord("good", t0.Add(time.Hour))
	_, ok, err := st.Acquire(ctx, good, t0)
	require.NoError(t, err)
	require.True(t, ok)
	sent.Store(0)

	with := func(f func(*idempotency.Record)) idempotency.Record {
		r := good
		f(&r)
		return r
	}
	long := strings.Repeat("k", idempotency.MaxStoreKeyBytes+1)
	far := time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)
	invalid := []idempotency.Record{
		with(func(r *idempotency.Record) { r.Key = "" }),
		with(func(r *idempotency.Record) { r.Key = long }),
		with(func(r *idempotency.Record) { r.Token = "" }),
		with(func(r *idempotency.Record) { r.Token = strings.Repeat("t", idempotency.MaxTokenBytes+1) }),
		with(func(r *idempotency.Record) { r.Fingerprint = strings.Repeat("f", idempotency.MaxFingerprintSize+1) }),
		with(func(r *idempotency.Record) { r.Expires = far }),
		with(func(r *idempotency.Record) { r.Expires = time.Date(-300000, 1, 1, 0, 0, 0, 0, time.UTC) }),
	}
	for i, r := range invalid {
		_, ok, err := st.Acquire(ctx, r, t0)
		assert.ErrorIs(t, err, idempotency.ErrInvalidRecord, "Acquire %d", i)
		assert.False(t, ok)
		r.Done, r.Outcome = true, []byte("x")
		assert.ErrorIs(t, st.Complete(ctx, r, t0), idempotency.ErrInvalidRecord, "Complete %d", i)
	}
	_, _, err = st.Acquire(ctx, good, far)
	assert.ErrorIs(t, err, idempotency.ErrInvalidRecord, "a now too far")
	assert.ErrorIs(t, st.Extend(ctx, good.Key, good.Token, far), idempotency.ErrInvalidRecord)
	for _, kt := range [][2]string{{"", good.Token}, {long, good.Token}, {good.Key, ""}, {good.Key, strings.Repeat("t", 65)}} {
		assert.ErrorIs(t, st.Extend(ctx, kt[0], kt[1], t0.Add(time.Hour)), idempotency.ErrInvalidRecord, "Extend %q", kt)
		assert.ErrorIs(t, st.Release(ctx, kt[0], kt[1]), idempotency.ErrInvalidRecord, "Release %q", kt)
	}

	big := with(func(r *idempotency.Record) {
		r.Done, r.Outcome = true, make([]byte, idempotency.DefaultMaxOutcomeBytes+1)
	})
	require.ErrorIs(t, st.Complete(ctx, big, t0), idempotency.ErrTooLarge, "zero MaxOutcomeBytes is the default")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, ok, err = st.Acquire(cancelled, newRecord("cancelled", t0.Add(time.Hour)), t0)
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, ok)
	assert.ErrorIs(t, st.Complete(cancelled, with(func(r *idempotency.Record) { r.Done = true }), t0), context.Canceled)
	assert.ErrorIs(t, st.Extend(cancelled, good.Key, good.Token, t0.Add(2*time.Hour)), context.Canceled)
	assert.ErrorIs(t, st.Release(cancelled, good.Key, good.Token), context.Canceled)

	assert.Zero(t, sent.Load(), "no command reached Redis")

	// The good record was left alone by all of it.
	live, ok, err := st.Acquire(ctx, newRecord("good", t0.Add(time.Hour)), t0)
	require.NoError(t, err)
	require.False(t, ok)
	assert.False(t, live.Done)
	assert.Equal(t, good.Token, live.Token)
	assert.True(t, good.Expires.Equal(live.Expires))
	require.NoError(t, st.Release(ctx, good.Key, good.Token))
}

// TestForeignKey checks that a key of another type under the prefix is an
// error, never taken for a record nor overwritten.
func TestForeignKey(t *testing.T) {
	t.Parallel()
	prefix := runPrefix("foreign")
	cleanup(t, prefix)
	rdb := client(t, 0, nil)
	ctx, t0 := t.Context(), now()
	require.NoError(t, rdb.Set(ctx, prefix+"k", "not a record", time.Hour).Err())
	st := redis.NewStore(rdb, redis.Config{Prefix: prefix})
	r := newRecord("k", t0.Add(time.Hour))
	_, ok, err := st.Acquire(ctx, r, t0)
	require.Error(t, err)
	assert.False(t, ok)
	for _, err := range []error{
		st.Complete(ctx, r, t0), st.Extend(ctx, r.Key, r.Token, t0), st.Release(ctx, r.Key, r.Token),
	} {
		require.Error(t, err)
		assert.NotErrorIs(t, err, idempotency.ErrLeaseLost)
	}
	v, err := rdb.Get(ctx, prefix+"k").Result()
	require.NoError(t, err)
	assert.Equal(t, "not a record", v)
}
