package breaker_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
)

func TestHealthCheckRecovers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var checks atomic.Int32
		var healthy atomic.Bool
		rec := newRecorder()
		b := breaker.New(breaker.Config{
			ConsecutiveFailures: 1,
			OpenDuration:        10 * time.Second,
			SuccessThreshold:    2,
			OnStateChange:       rec.hook,
			HealthCheck: func(ctx context.Context) error {
				checks.Add(1)
				if healthy.Load() {
					return nil
				}
				return errBoom
			},
		})
		defer b.Close()
		_ = call(b, fail)
		require.Equal(t, breaker.Open, b.State())

		// The first check, after the open duration, fails: open again.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.Equal(t, int32(1), checks.Load())
		require.Equal(t, breaker.Open, b.State())

		// User calls never probe, even once the open duration has passed.
		time.Sleep(5 * time.Second)
		called := false
		requireOpen(t, call(b, func(context.Context) error { called = true; return nil }), breaker.Open, 5*time.Second)
		require.False(t, called)

		healthy.Store(true)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		require.Equal(t, int32(3), checks.Load(), "two successes in a row close it")
		require.Equal(t, breaker.Closed, b.State())
		require.NoError(t, call(b, ok))
		assert.Equal(t, [][2]breaker.State{
			{breaker.Closed, breaker.Open},
			{breaker.Open, breaker.HalfOpen},
			{breaker.HalfOpen, breaker.Open},
			{breaker.Open, breaker.HalfOpen},
			{breaker.HalfOpen, breaker.Closed},
		}, rec.drain())
		assert.Equal(t, uint64(1), b.Metrics().Rejections)
	})
}

// While the health check runs, user calls are rejected as half-open.
func TestHealthCheckRejectsUsersWhileChecking(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		b := breaker.New(breaker.Config{
			ConsecutiveFailures: 1,
			OpenDuration:        time.Second,
			HealthCheck: func(ctx context.Context) error {
				<-release
				return nil
			},
		})
		defer b.Close()
		_ = call(b, fail)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, breaker.HalfOpen, b.State())
		requireOpen(t, call(b, ok), breaker.HalfOpen, 0)
		close(release)
		synctest.Wait()
		require.Equal(t, breaker.Closed, b.State())
	})
}

func TestHealthCheckTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var sawDeadline atomic.Bool
		b := breaker.New(breaker.Config{
			ConsecutiveFailures: 1,
			OpenDuration:        time.Second,
			HealthCheckTimeout:  3 * time.Second,
			HealthCheck: func(ctx context.Context) error {
				_, ok := ctx.Deadline()
				sawDeadline.Store(ok)
				<-ctx.Done() // hangs until the timeout
				return ctx.Err()
			},
		})
		defer b.Close()
		_ = call(b, fail)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, breaker.HalfOpen, b.State())
		time.Sleep(3 * time.Second)
		synctest.Wait()
		require.True(t, sawDeadline.Load())
		require.Equal(t, breaker.Open, b.State(), "a timed-out check is a failure")
	})
}

// Close stops the goroutine; the breaker then probes with user calls.
func TestHealthCheckClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var checks atomic.Int32
		b := breaker.New(breaker.Config{
			ConsecutiveFailures: 1,
			OpenDuration:        time.Second,
			HealthCheck: func(ctx context.Context) error {
				checks.Add(1)
				return errBoom
			},
		})
		_ = call(b, fail)
		b.Close()
		b.Close() // idempotent
		time.Sleep(time.Second)
		synctest.Wait()
		require.Zero(t, checks.Load())
		require.NoError(t, call(b, ok), "user probe after Close")
		require.Equal(t, breaker.Closed, b.State())
		_ = call(b, fail) // opening again starts no goroutine
		time.Sleep(time.Second)
		synctest.Wait()
		require.Zero(t, checks.Load())
	})
}

// Close while a check is in flight cancels it; its result is not counted.
func TestHealthCheckCloseDuringCheck(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		started := make(chan struct{})
		b := breaker.New(breaker.Config{
			ConsecutiveFailures: 1,
			OpenDuration:        time.Second,
			HealthCheck: func(ctx context.Context) error {
				close(started)
				<-ctx.Done()
				return ctx.Err()
			},
		})
		_ = call(b, fail)
		time.Sleep(time.Second)
		<-started
		b.Close()
		require.Equal(t, breaker.HalfOpen, b.State())
		require.NoError(t, call(b, ok), "the slot is free for a user probe")
		require.Equal(t, breaker.Closed, b.State())
	})
}

// Reset, ForceOpen and Disable stop a waiting health check at once.
func TestHealthCheckStopsOnManualControl(t *testing.T) {
	t.Parallel()
	for _, manual := range []func(*breaker.Breaker){(*breaker.Breaker).Reset, (*breaker.Breaker).ForceOpen, (*breaker.Breaker).Disable} {
		synctest.Test(t, func(t *testing.T) {
			var checks atomic.Int32
			b := breaker.New(breaker.Config{
				ConsecutiveFailures: 1,
				OpenDuration:        time.Hour,
				HealthCheck:         func(context.Context) error { checks.Add(1); return nil },
			})
			_ = call(b, fail)
			synctest.Wait()
			manual(b)
			synctest.Wait() // the goroutine ends without Close: the bubble would deadlock otherwise
			time.Sleep(2 * time.Hour)
			require.Zero(t, checks.Load())
		})
	}
}

func TestCloseWithoutHealthCheck(t *testing.T) {
	t.Parallel()
	b := breaker.New(breaker.Config{})
	b.Close()
	b.Close()
	require.NoError(t, call(b, ok))
}

// The changes made by the health check reach OnStateChange with the
// health-check goroutine's context, which carries the Group key.
func TestHealthCheckChangesGetItsContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var keys []string
		g := breaker.NewGroup(breaker.GroupConfig{
			Config: breaker.Config{
				ConsecutiveFailures: 1,
				OpenDuration:        time.Second,
				HealthCheck:         func(context.Context) error { return nil },
			},
			OnStateChange: func(ctx context.Context, key string, from, to breaker.State) {
				mu.Lock()
				defer mu.Unlock()
				keys = append(keys, fmt.Sprintf("%s %s->%s ctx key %q", key, from, to, resilience.KeyFrom(ctx)))
			},
		})
		defer g.Close()
		_ = g.Do(resilience.WithKey(t.Context(), "db"), fail)
		time.Sleep(time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []string{
			`db closed->open ctx key "db"`,
			`db open->half-open ctx key "db"`,
			`db half-open->closed ctx key "db"`,
		}, keys)
	})
}
