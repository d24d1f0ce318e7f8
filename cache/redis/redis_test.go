package redis_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/cache"
	"github.com/resiliencekit/resilience/cache/redis"
)

type product struct {
	Name  string
	Price int
}

func TestStoreRoundTrip(t *testing.T) {
	t.Parallel()
	rdb, prefix := client(t)
	ctx := context.Background()
	s := redis.New(rdb, redis.Config[string, product]{Prefix: prefix, TTL: time.Minute})

	_, _, err := s.Get(ctx, "p1")
	require.ErrorIs(t, err, cache.ErrNotFound)

	loadedAt := time.Now().Add(-20 * time.Second).Round(0)
	require.NoError(t, s.Set(ctx, "p1", product{"pen", 2}, loadedAt))
	v, at, err := s.Get(ctx, "p1")
	require.NoError(t, err)
	assert.Equal(t, product{"pen", 2}, v)
	assert.True(t, at.Equal(loadedAt), "the load time travels with the copy")

	ttl, err := rdb.PTTL(ctx, prefix+"p1").Result()
	require.NoError(t, err)
	assert.LessOrEqual(t, ttl, 40*time.Second, "the copy expires a TTL after the load, not after the copy")
	assert.Greater(t, ttl, 30*time.Second)

	require.NoError(t, s.Set(ctx, "old", product{"ink", 1}, time.Now().Add(-2*time.Minute)))
	_, _, err = s.Get(ctx, "old")
	require.ErrorIs(t, err, cache.ErrNotFound, "a copy older than the TTL is not stored")
}

func TestStoreKeyCodecs(t *testing.T) {
	t.Parallel()
	rdb, prefix := client(t)
	ctx := context.Background()
	type userID string
	type region uint8

	t.Run("named string", func(t *testing.T) {
		t.Parallel()
		s := redis.New(rdb, redis.Config[userID, int]{Prefix: prefix + "u:"})
		require.NoError(t, s.Set(ctx, "ann", 1, time.Now()))
		assert.Equal(t, int64(1), rdb.Exists(ctx, prefix+"u:ann").Val())
	})
	t.Run("int", func(t *testing.T) {
		t.Parallel()
		s := redis.New(rdb, redis.Config[int64, int]{Prefix: prefix + "i:"})
		require.NoError(t, s.Set(ctx, -42, 1, time.Now()))
		assert.Equal(t, int64(1), rdb.Exists(ctx, prefix+"i:-42").Val())
	})
	t.Run("uint", func(t *testing.T) {
		t.Parallel()
		s := redis.New(rdb, redis.Config[region, int]{Prefix: prefix + "r:"})
		require.NoError(t, s.Set(ctx, 7, 1, time.Now()))
		v, _, err := s.Get(ctx, 7)
		require.NoError(t, err)
		assert.Equal(t, 1, v)
	})
	t.Run("custom", func(t *testing.T) {
		t.Parallel()
		type point struct{ X, Y int }
		s := redis.New(rdb, redis.Config[point, int]{
			Prefix:   prefix + "p:",
			Key:      func(p point) string { return strconv.Itoa(p.X) + "," + strconv.Itoa(p.Y) },
			ParseKey: func(string) (point, error) { return point{}, errors.New("unused") },
		})
		require.NoError(t, s.Set(ctx, point{1, 2}, 3, time.Now()))
		assert.Equal(t, int64(1), rdb.Exists(ctx, prefix+"p:1,2").Val())
	})
}

func TestNewPanics(t *testing.T) {
	t.Parallel()
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer rdb.Close()
	type point struct{ X, Y int }
	tests := []struct {
		name string
		f    func()
		want string
	}{
		{"nil client", func() { redis.New[string, int](nil, redis.Config[string, int]{}) }, "redis: nil client"},
		{"negative TTL", func() { redis.New(rdb, redis.Config[string, int]{TTL: -1}) }, "redis: negative Config.TTL -1ns"},
		{"half codec", func() {
			redis.New(rdb, redis.Config[string, int]{Marshal: func(int) ([]byte, error) { return nil, nil }})
		}, "redis: set both Config.Marshal and Config.Unmarshal, or neither"},
		{"struct key", func() { redis.New(rdb, redis.Config[point, int]{}) },
			"redis: Config.Key and Config.ParseKey are required for key type redis_test.point"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.PanicsWithValue(t, tt.want, tt.f)
		})
	}
}

func TestStoreReportsCorruptCopies(t *testing.T) {
	t.Parallel()
	rdb, prefix := client(t)
	ctx := context.Background()
	var log errLog
	s := redis.New(rdb, redis.Config[string, product]{Prefix: prefix, OnError: log.add})
	require.NoError(t, rdb.Set(ctx, prefix+"short", "abc", time.Minute).Err())
	require.NoError(t, rdb.Set(ctx, prefix+"badjson", "12345678{not json", time.Minute).Err())
	for _, k := range []string{"short", "badjson"} {
		_, _, err := s.Get(ctx, k)
		require.ErrorIs(t, err, redis.ErrCorrupt)
	}
	assert.Equal(t, 2, log.len())

	// Through Tiered, a corrupt copy is skipped for the source.
	src := &source{vals: map[string]string{"short": "fresh"}}
	strs := redis.New(rdb, redis.Config[string, string]{Prefix: prefix, OnError: log.add})
	c := cache.New(cache.Tiered(strs, src.load), cache.Config{})
	defer c.Close()
	v, err := c.Get(ctx, "short")
	require.NoError(t, err)
	assert.Equal(t, "fresh", v)
}

type traceKey struct{}

// OnError gets the ctx of the call that met the failure.
func TestStoreOnErrorGetsTheCallersContext(t *testing.T) {
	t.Parallel()
	rdb, prefix := client(t)
	got := make(chan any, 1)
	s := redis.New(rdb, redis.Config[string, product]{Prefix: prefix, OnError: func(ctx context.Context, _ error) {
		got <- ctx.Value(traceKey{})
	}})
	ctx := context.WithValue(context.Background(), traceKey{}, "trace-1")
	require.NoError(t, rdb.Set(ctx, prefix+"short", "abc", time.Minute).Err())
	_, _, err := s.Get(ctx, "short")
	require.ErrorIs(t, err, redis.ErrCorrupt)
	assert.Equal(t, "trace-1", <-got)
}

// notifying is a local cache that reports each eviction Run makes.
type notifying[K comparable, V any] struct {
	*cache.Cache[K, V]
	deleted chan K
	purged  chan struct{}
}

func (n notifying[K, V]) Delete(k K) {
	n.Cache.Delete(k)
	n.deleted <- k
}

func (n notifying[K, V]) Purge() {
	n.Cache.Purge()
	n.purged <- struct{}{}
}

func newReplica(t *testing.T, s *redis.Store[string, string], src *source) notifying[string, string] {
	c := cache.New(cache.Tiered(s, src.load), cache.Config{TTL: time.Hour})
	t.Cleanup(c.Close)
	return notifying[string, string]{Cache: c, deleted: make(chan string, 16), purged: make(chan struct{}, 16)}
}

// run runs s.Run for local until the test ends.
func run[K comparable](t *testing.T, s interface {
	Run(context.Context, redis.Local[K]) error
}, local redis.Local[K]) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, s.Run(ctx, local)) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s within 20 s", what)
		panic("unreachable")
	}
}

func TestInvalidationAcrossTwoCaches(t *testing.T) {
	t.Parallel()
	rdb, prefix := client(t)
	ctx := context.Background()
	src := &source{vals: map[string]string{"p1": "pen $2"}}
	cfg := redis.Config[string, string]{Prefix: prefix, TTL: time.Hour}
	storeA, storeB := redis.New(rdb, cfg), redis.New(rdb, cfg)
	a, b := newReplica(t, storeA, src), newReplica(t, storeB, src)
	run(t, storeA, a)
	run(t, storeB, b)
	waitSubscribers(t, rdb, prefix+"invalidate", 2)

	for _, c := range []notifying[string, string]{a, b} {
		v, err := c.Get(ctx, "p1")
		require.NoError(t, err)
		assert.Equal(t, "pen $2", v)
	}
	assert.Equal(t, 1, src.count(), "b took a's copy from Redis")

	// The owner changes the price and invalidates.
	src.set("p1", "pen $3")
	require.NoError(t, storeA.Invalidate(ctx, "p1"))
	assert.Equal(t, "p1", recv(t, a.deleted, "eviction in a"))
	assert.Equal(t, "p1", recv(t, b.deleted, "eviction in b"))
	assert.Zero(t, rdb.Exists(ctx, prefix+"p1").Val(), "the shared copy is gone too")

	for _, c := range []notifying[string, string]{a, b} {
		v, err := c.Get(ctx, "p1")
		require.NoError(t, err)
		assert.Equal(t, "pen $3", v)
	}
	assert.Equal(t, 2, src.count())
	require.NoError(t, storeA.Invalidate(ctx)) // no keys: nothing to do
}

// TestRedisGoingAway kills a private redis-server under two replicas: their
// local caches keep serving, misses go to the source, and when Redis comes
// back the subscription does too (and, with PurgeOnReconnect, empties the
// local cache, which may have missed invalidations).
func TestRedisGoingAway(t *testing.T) {
	t.Parallel()
	srv := startPrivateRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.addr(), MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	defer rdb.Close()
	ctx := context.Background()
	var log errLog
	src := &source{vals: map[string]string{"a": "A", "b": "B", "c": "C"}}
	cfg := redis.Config[string, string]{Prefix: "t:", TTL: time.Hour, OnError: log.add, PurgeOnReconnect: true}
	store := redis.New(rdb, cfg)
	local := newReplica(t, store, src)
	run(t, store, local)
	waitSubscribers(t, rdb, "t:invalidate", 1)

	for _, k := range []string{"a", "b"} {
		_, err := local.Get(ctx, k)
		require.NoError(t, err)
	}
	require.Equal(t, 2, src.count())

	srv.kill()
	for range 3 {
		for k, want := range map[string]string{"a": "A", "b": "B"} {
			v, err := local.Get(ctx, k)
			require.NoError(t, err, "the local cache keeps serving without Redis")
			assert.Equal(t, want, v)
		}
	}
	assert.Equal(t, 2, src.count(), "hits need neither Redis nor the source")
	v, err := local.Get(ctx, "c")
	require.NoError(t, err, "a miss goes to the source when Redis is down")
	assert.Equal(t, "C", v)
	assert.Equal(t, 3, src.count())
	assert.Error(t, store.Invalidate(ctx, "a"), "invalidation needs Redis, and says so")
	assert.Positive(t, log.len(), "Redis failures are reported")

	srv.start()
	recv(t, local.purged, "purge after the subscription came back")
	waitSubscribers(t, rdb, "t:invalidate", 1)
	assert.Zero(t, local.Len())
	v, err = local.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, "A", v)
}
