package redis_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observetest"
	"github.com/resiliencekit/resilience/ratelimit"
	"github.com/resiliencekit/resilience/ratelimit/redis"
)

func rejection(name, key, reason string, err error) resilience.Event {
	return resilience.Event{Kind: resilience.EventReject, Policy: "ratelimit", Name: name, Key: key, Reason: reason, Err: err}
}

func withObserver(o resilience.Observer, c ratelimit.Config) ratelimit.GroupConfig {
	c.Observer = o
	return ratelimit.GroupConfig{Config: c}
}

// Against the machine's Redis: refusals, with the very error returned and
// the key as held, and a call that waits for its token.
func TestEventsRejectAndWait(t *testing.T) {
	t.Parallel()
	c := sharedRedis(t)
	rec := &observetest.Log{}
	ctx := context.WithValue(context.Background(), ctxKey{}, "call")
	l := redis.New(c, 2, 1, redis.Config{Prefix: prefix(t),
		GroupConfig: withObserver(rec, ratelimit.Config{Name: "api", MaxWait: 10 * time.Second, MaxQueue: 1})})
	require.NoError(t, l.Wait(ctx, "k"))
	assert.Empty(t, rec.TakeEvents(), "a call admitted at once is no event")
	require.NoError(t, l.Wait(ctx, "k"), "waits for the next token")
	evs, ctxs := rec.Take()
	require.Len(t, evs, 1)
	assert.Equal(t, resilience.EventWait, evs[0].Kind)
	assert.Equal(t, "ratelimit", evs[0].Policy)
	assert.Equal(t, "api", evs[0].Name)
	assert.Equal(t, "k", evs[0].Key)
	assert.GreaterOrEqual(t, evs[0].Duration, 300*time.Millisecond)
	assert.Less(t, evs[0].Duration, 5*time.Second)
	assert.Equal(t, "call", ctxs[0].Value(ctxKey{}))

	// One call waits; the next finds the queue full.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- l.Wait(cctx, "k") }()
	require.Eventually(t, func() bool { return l.Waiting() == 1 }, 5*time.Second, time.Millisecond)
	full := l.Wait(ctx, "k")
	require.ErrorIs(t, full, ratelimit.ErrLimited)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.Equal(t, []resilience.Event{rejection("api", "k", "queue_full", full)}, rec.TakeEvents(),
		"a wait that its caller gave up is no event")

	_, err := l.Take(ctx, "k", 5)
	require.NoError(t, err)
	evs = rec.TakeEvents()
	require.Len(t, evs, 1)
	assert.Equal(t, "too_costly", evs[0].Reason)

	f := redis.New(c, 0.1, 1, redis.Config{Prefix: prefix(t), GroupConfig: withObserver(rec, ratelimit.Config{Name: "api"})})
	long := strings.Repeat("x", 200)
	keyed := resilience.WithKey(ctx, long)
	require.NoError(t, f.Do(keyed, nop))
	refused := f.Do(keyed, nop)
	require.ErrorIs(t, refused, ratelimit.ErrLimited)
	sum := sha256.Sum256([]byte(long))
	evs = rec.TakeEvents()
	require.Equal(t, []resilience.Event{rejection("api", "sha256:"+hex.EncodeToString(sum[:]), "limited", refused)}, evs)
	assert.Same(t, refused, evs[0].Err)
}

// flaky is the machine's Redis, or a Redis that is down while down is set.
type flaky struct {
	goredis.Scripter
	down atomic.Bool
	dead downScripter
}

func (f *flaky) s() goredis.Scripter {
	if f.down.Load() {
		return &f.dead
	}
	return f.Scripter
}

func (f *flaky) Eval(ctx context.Context, script string, keys []string, args ...interface{}) *goredis.Cmd {
	return f.s().Eval(ctx, script, keys, args...)
}

func (f *flaky) EvalSha(ctx context.Context, sha string, keys []string, args ...interface{}) *goredis.Cmd {
	return f.s().EvalSha(ctx, sha, keys, args...)
}

func (f *flaky) EvalRO(ctx context.Context, script string, keys []string, args ...interface{}) *goredis.Cmd {
	return f.s().EvalRO(ctx, script, keys, args...)
}

func (f *flaky) EvalShaRO(ctx context.Context, sha string, keys []string, args ...interface{}) *goredis.Cmd {
	return f.s().EvalShaRO(ctx, sha, keys, args...)
}

func (f *flaky) ScriptExists(ctx context.Context, hashes ...string) *goredis.BoolSliceCmd {
	return f.s().ScriptExists(ctx, hashes...)
}

func (f *flaky) ScriptLoad(ctx context.Context, script string) *goredis.StringCmd {
	return f.s().ScriptLoad(ctx, script)
}

// Redis going away and coming back is an EventStateChange each way, after
// OnStateChange, with the caller's context; a FailClosed refusal meanwhile
// has Reason "unavailable". The Observer may call the limiter's methods.
func TestEventsStateChange(t *testing.T) {
	t.Parallel()
	f := &flaky{Scripter: sharedRedis(t)}
	rec := &observetest.Log{}
	var l *redis.Limiter
	var order []string
	rec.On = func(_ context.Context, e resilience.Event) {
		m := l.Metrics()
		order = append(order, e.Kind.String())
		if e.Kind == resilience.EventStateChange {
			assert.Equal(t, e.To == "available", l.Available(), "the change has happened")
			assert.Equal(t, e.To == "available", m.Available)
		}
	}
	l = redis.New(f, 10, 10, redis.Config{Prefix: prefix(t), OnFailure: redis.FailClosed, RetryInterval: resilience.None,
		GroupConfig: withObserver(rec, ratelimit.Config{Name: "api"}),
		OnStateChange: func(_ context.Context, up bool, _ error) {
			order = append(order, "hook")
		}})
	ctx := context.WithValue(context.Background(), ctxKey{}, "call")
	d, err := l.Take(ctx, "k", 1)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	assert.Empty(t, rec.TakeEvents())

	f.down.Store(true)
	_, refused := l.Take(ctx, "k", 1)
	require.ErrorIs(t, refused, ratelimit.ErrLimited)
	f.down.Store(false)
	d, err = l.Take(ctx, "k", 1)
	require.NoError(t, err)
	require.True(t, d.Allowed)

	evs, ctxs := rec.Take()
	require.Equal(t, []resilience.Event{
		{Kind: resilience.EventStateChange, Policy: "ratelimit", Name: "api", From: "available", To: "unavailable", Err: errDown},
		rejection("api", "k", "unavailable", refused),
		{Kind: resilience.EventStateChange, Policy: "ratelimit", Name: "api", From: "unavailable", To: "available"},
	}, evs)
	assert.ErrorIs(t, evs[1].Err, errDown, "the refusal wraps the store's failure")
	for _, c := range ctxs {
		assert.Equal(t, "call", c.Value(ctxKey{}))
	}
	assert.Equal(t, []string{"hook", "state_change", "rejected", "hook", "state_change"}, order)
}

// Under FailLocal, the local fallback's waits are reported, and its
// refusals once, as the Limiter's.
func TestEventsFailLocal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		l := redis.New(&downScripter{}, 1, 1, redis.Config{OnFailure: redis.FailLocal,
			GroupConfig: withObserver(rec, ratelimit.Config{Name: "api", MaxWait: 5 * time.Second})})
		ctx := context.Background()
		require.NoError(t, l.Wait(ctx, "k"))
		require.NoError(t, l.Wait(ctx, "k"))
		d, err := l.Take(ctx, "k", 1)
		require.NoError(t, err)
		require.False(t, d.Allowed)
		evs := rec.TakeEvents()
		require.Len(t, evs, 3)
		assert.Equal(t, resilience.Event{Kind: resilience.EventStateChange, Policy: "ratelimit", Name: "api",
			From: "available", To: "unavailable", Err: errDown}, evs[0])
		assert.Equal(t, resilience.Event{Kind: resilience.EventWait, Policy: "ratelimit", Name: "api", Key: "k",
			Duration: time.Second}, evs[1])
		assert.Equal(t, "limited", evs[2].Reason)
		assert.Equal(t, resilience.EventReject, evs[2].Kind)
		assert.Equal(t, "k", evs[2].Key)
	})
}

// A typed nil Observer panics in New.
func TestObserverTypedNilPanics(t *testing.T) {
	t.Parallel()
	var nilLog *observetest.Log
	require.PanicsWithValue(t, "ratelimit/redis: Observer is a nil *observetest.Log", func() {
		redis.New(&downScripter{}, 1, 1, redis.Config{GroupConfig: withObserver(nilLog, ratelimit.Config{})})
	})
}
