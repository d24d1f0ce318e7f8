package cache_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/cache"
)

// mapStore is an in-memory cache.Store, standing for a shared level.
type mapStore struct {
	mu   sync.Mutex
	vals map[string]int
	at   map[string]time.Time
	down bool
	sets int
}

func newMapStore() *mapStore {
	return &mapStore{vals: map[string]int{}, at: map[string]time.Time{}}
}

func (s *mapStore) Get(_ context.Context, k string) (int, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return 0, time.Time{}, errDown
	}
	v, ok := s.vals[k]
	if !ok {
		return 0, time.Time{}, fmt.Errorf("store: %q: %w", k, cache.ErrNotFound)
	}
	return v, s.at[k], nil
}

func (s *mapStore) Set(_ context.Context, k string, v int, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	s.vals[k], s.at[k] = v, at
	s.sets++
	return nil
}

func TestTieredSharesLoadsAcrossReplicas(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := newSource("k", 1)
		store := newMapStore()
		cfg := cache.Config{TTL: time.Minute}
		a := cache.New(cache.Tiered(store, src.load), cfg)
		defer a.Close()
		b := cache.New(cache.Tiered(store, src.load), cfg)
		defer b.Close()
		ctx := context.Background()

		_, err := a.Get(ctx, "k")
		require.NoError(t, err)
		time.Sleep(40 * time.Second)
		e, err := b.GetEntry(ctx, "k")
		require.NoError(t, err)
		assert.Equal(t, 1, e.Value)
		assert.EqualValues(t, 1, src.loads.Load(), "replica b took a's load from the store")
		assert.Equal(t, 40*time.Second, e.Age, "the copy keeps its load time")

		time.Sleep(20 * time.Second) // a minute after the source was read
		store.mu.Lock()
		delete(store.vals, "k") // the shared copy expired too
		store.mu.Unlock()
		src.set("k", 2)
		v, err := b.Get(ctx, "k")
		require.NoError(t, err)
		assert.Equal(t, 2, v, "b's copy expired with the original, not a minute after the copy")
	})
}

func TestTieredFallsBackToSourceWhenStoreFails(t *testing.T) {
	t.Parallel()
	src := newSource("k", 3)
	store := newMapStore()
	store.down = true
	c := cache.New(cache.Tiered(store, src.load), cache.Config{})
	defer c.Close()
	v, err := c.Get(context.Background(), "k")
	require.NoError(t, err)
	assert.Equal(t, 3, v)
	assert.Zero(t, store.sets)

	src.fail("x", cache.ErrNotFound)
	store.down = false
	_, err = c.Get(context.Background(), "x")
	require.ErrorIs(t, err, cache.ErrNotFound)
	assert.Zero(t, store.sets, "errors are not stored")
}

func TestTieredPanicsWithoutStoreOrLoader(t *testing.T) {
	t.Parallel()
	require.PanicsWithValue(t, "cache: Tiered needs a store and a loader", func() {
		cache.Tiered[string, int](nil, noLoad)
	})
	require.PanicsWithValue(t, "cache: Tiered needs a store and a loader", func() {
		cache.Tiered[string, int](newMapStore(), nil)
	})
}

func TestReportLoadedAtOutsideALoadDoesNothing(t *testing.T) {
	t.Parallel()
	cache.ReportLoadedAt(context.Background(), time.Now()) // no panic
}
