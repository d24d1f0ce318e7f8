package fallback_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/fallback"
)

// call runs one resilience.Do[string] under p for key, with op returning
// v, or failing when v is "".
func call(p resilience.Policy, key, v string) (string, error) {
	ctx := resilience.WithKey(context.Background(), key)
	return resilience.Do(ctx, p, func(context.Context) (string, error) {
		if v == "" {
			return "", errDown
		}
		return v, nil
	})
}

// The last good value of each key answers its failures while it is no
// older than Stale; then sub does, and sub's value is never remembered.
func TestStaleAnswersWithTheLastGoodValueOfItsKey(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		subCalls := 0
		fb := fallback.New(func(context.Context, error) (string, error) {
			subCalls++
			return "sub", nil
		}, fallback.Config{Stale: time.Minute})

		v, err := call(fb, "a", "a1")
		require.NoError(t, err)
		assert.Equal(t, "a1", v)
		_, _ = call(fb, "a", "a2") // the last good one wins
		_, _ = call(fb, "b", "b1")

		v, err = call(fb, "a", "")
		require.NoError(t, err)
		assert.Equal(t, "a2", v)
		v, _ = call(fb, "b", "")
		assert.Equal(t, "b1", v)
		v, _ = call(fb, "c", "")
		assert.Equal(t, "sub", v, "no value for c: sub answers")
		assert.Equal(t, 1, subCalls)

		time.Sleep(time.Minute)
		v, _ = call(fb, "a", "")
		assert.Equal(t, "a2", v, "exactly Stale old is still good")
		time.Sleep(time.Nanosecond)
		v, _ = call(fb, "a", "")
		assert.Equal(t, "sub", v, "too old: sub answers")
		v, _ = call(fb, "a", "")
		assert.Equal(t, "sub", v, "sub's value was not remembered as good")
		assert.Equal(t, 3, subCalls)

		m := fb.Metrics()
		assert.Equal(t, uint64(3), m.Stored)
		assert.Equal(t, 1, m.Keys, "a dropped when found too old; b held")
		assert.Equal(t, map[fallback.Kind]uint64{fallback.KindStale: 3, fallback.KindValue: 3}, kinds(m))
	})
}

// With Stale and no sub, a failure without a good value comes back as it
// was.
func TestStaleWithoutSub(t *testing.T) {
	t.Parallel()
	fb := fallback.New[string](nil, fallback.Config{Stale: time.Minute})
	_, err := call(fb, "k", "")
	require.ErrorIs(t, err, errDown)
	require.NotErrorIs(t, err, fallback.ErrNoResult)
	_, _ = call(fb, "k", "v")
	v, err := call(fb, "k", "")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	assert.Equal(t, map[fallback.Kind]uint64{fallback.KindNoValue: 1, fallback.KindStale: 1}, kinds(fb.Metrics()))
}

// A stale value is handed over only to a call of its type; for another it
// is ErrNoResult, as for sub's value.
func TestStaleNoResult(t *testing.T) {
	t.Parallel()
	fb := fallback.New[string](nil, fallback.Config{Stale: time.Minute})
	_, _ = call(fb, "", "v")
	err := fb.Do(context.Background(), func(context.Context) error { return errDown })
	require.ErrorIs(t, err, fallback.ErrNoResult)
	require.ErrorIs(t, err, errDown)
	assert.Equal(t, map[fallback.Kind]uint64{fallback.KindNoResult: 1}, kinds(fb.Metrics()))
}

func TestStaleForever(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fb := fallback.New[string](nil, fallback.Config{Stale: resilience.Forever})
		_, _ = call(fb, "k", "v")
		time.Sleep(100 * 365 * 24 * time.Hour)
		v, err := call(fb, "k", "")
		require.NoError(t, err)
		assert.Equal(t, "v", v)
	})
}

// MaxKeys bounds the keys; the least recently stored or used goes first.
func TestStaleMaxKeysDropsTheLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	fb := fallback.New[string](nil, fallback.Config{Stale: time.Hour, MaxKeys: 2})
	_, _ = call(fb, "a", "a")
	_, _ = call(fb, "b", "b")
	_, _ = call(fb, "a", "") // a answered: used more recently than b
	_, _ = call(fb, "c", "c")
	m := fb.Metrics()
	assert.Equal(t, 2, m.Keys)
	assert.Equal(t, uint64(1), m.Evicted)
	for key, want := range map[string]string{"a": "a", "c": "c"} {
		v, err := call(fb, key, "")
		require.NoError(t, err, key)
		assert.Equal(t, want, v)
	}
	_, err := call(fb, "b", "")
	require.ErrorIs(t, err, errDown, "b was dropped")

	// The default bound.
	fd := fallback.New[int](nil, fallback.Config{Stale: time.Hour})
	for i := range fallback.DefaultMaxKeys + 10 {
		ctx := resilience.WithKey(context.Background(), fmt.Sprint(i))
		_, _ = resilience.Do(ctx, fd, succeeds(i))
	}
	m = fd.Metrics()
	assert.Equal(t, fallback.DefaultMaxKeys, m.Keys)
	assert.Equal(t, uint64(10), m.Evicted)
}

// Keys are bounded in bytes: a long one is held as its SHA-256.
func TestStaleLongKeysAreHashed(t *testing.T) {
	t.Parallel()
	fb := fallback.New[string](nil, fallback.Config{Stale: time.Hour})
	long := strings.Repeat("k", 10_000)
	_, _ = call(fb, long, "v")
	assert.Equal(t, int64(len("sha256:")+64), fb.Metrics().Bytes)
	v, err := call(fb, long, "")
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	_, err = call(fb, long+"x", "")
	require.ErrorIs(t, err, errDown, "another long key is another key")
	_, _ = call(fb, "short", "v")
	assert.Equal(t, int64(len("sha256:")+64+len("short")), fb.Metrics().Bytes)
}

func TestStaleCustomKey(t *testing.T) {
	t.Parallel()
	type tenant struct{}
	fb := fallback.New[string](nil, fallback.Config{
		Stale: time.Hour,
		Key:   func(ctx context.Context) string { s, _ := ctx.Value(tenant{}).(string); return s },
	})
	for _, tn := range []string{"acme", "globex"} {
		ctx := context.WithValue(context.Background(), tenant{}, tn)
		_, _ = resilience.Do(ctx, fb, succeeds("plan of "+tn))
	}
	ctx := context.WithValue(context.Background(), tenant{}, "globex")
	v, err := resilience.Do(ctx, fb, fails[string](errDown))
	require.NoError(t, err)
	assert.Equal(t, "plan of globex", v)
}

// Without a key every call shares one value.
func TestStaleWithoutKeySharesOneValue(t *testing.T) {
	t.Parallel()
	fb := fallback.New[string](nil, fallback.Config{Stale: time.Hour})
	_, _ = resilience.Do(context.Background(), fb, succeeds("one"))
	v, err := resilience.Do(context.Background(), fb, fails[string](errDown))
	require.NoError(t, err)
	assert.Equal(t, "one", v)
	assert.Equal(t, 1, fb.Metrics().Keys)
}

// The point of Stale: while a breaker is open, its rejections are answered
// with the last good value, without calling the dependency.
func TestStaleWhileBreakerOpen(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fb := fallback.New[string](nil, fallback.Config{Stale: time.Minute})
		br := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenDuration: 30 * time.Second})
		p := resilience.Chain(fb, br)
		_, _ = call(p, "k", "good")
		_, _ = call(p, "k", "") // opens the breaker; answered stale
		require.Equal(t, breaker.Open, br.State())
		ran := false
		v, err := resilience.Do(resilience.WithKey(context.Background(), "k"), p, func(context.Context) (string, error) {
			ran = true
			return "", nil
		})
		require.NoError(t, err)
		assert.Equal(t, "good", v)
		assert.False(t, ran)
		assert.Equal(t, map[fallback.Kind]uint64{fallback.KindStale: 2}, kinds(fb.Metrics()))
	})
}

// A substitute made by another fallback inside is not op's value, but
// looks like one to a Fallback outside (resilience.Result cannot tell):
// one Fallback per call does both stale and sub, which is why.
func TestOneFallbackDoesStaleThenSub(t *testing.T) {
	t.Parallel()
	fb := fallback.New(fallback.Value("dummy"), fallback.Config{Stale: time.Minute})
	v, _ := call(fb, "k", "")
	assert.Equal(t, "dummy", v)
	_, _ = call(fb, "k", "real")
	v, _ = call(fb, "k", "")
	assert.Equal(t, "real", v)
	assert.Equal(t, uint64(1), fb.Metrics().Stored)
}

var errSentinel = errors.New("sentinel")

// A failed sub after no stale value: its error and op's come back.
func TestStaleThenSubFails(t *testing.T) {
	t.Parallel()
	fb := fallback.New(func(context.Context, error) (string, error) { return "", errSentinel }, fallback.Config{Stale: time.Minute})
	_, err := call(fb, "k", "")
	require.ErrorIs(t, err, errSentinel)
	require.ErrorIs(t, err, errDown)
}
