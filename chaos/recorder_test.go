package chaos_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
)

func TestRecorderBackoffSpacing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &chaos.Recorder{}
		inj := chaos.New(chaos.Config{Recorder: rec}, chaos.Fault{When: chaos.First(3), Action: chaos.ConnReset()})
		// A hand-written retry with exponential backoff: 100 ms, 200 ms, 400 ms.
		retry := resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			wait := 100 * time.Millisecond
			for {
				err := op(ctx)
				if err == nil {
					return nil
				}
				time.Sleep(wait)
				wait *= 2
			}
		})
		t0 := time.Now()
		require.NoError(t, resilience.Chain(retry, inj).Do(resilience.WithKey(context.Background(), "db"),
			func(context.Context) error { return nil }))

		assert.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}, rec.Gaps())
		a := rec.Attempts()
		require.Len(t, a, 4)
		assert.Equal(t, t0, a[0].Start)
		for n, at := range a[:3] {
			assert.True(t, at.Injected(chaos.KindConnReset), "attempt %d", n)
			require.Error(t, at.Err)
			assert.Equal(t, at.Start, at.End)
		}
		assert.Nil(t, a[3].Faults)
		require.NoError(t, a[3].Err)
		assert.Equal(t, "call db: read tcp db: read: connection reset by peer [conn-reset]", a[0].String())
		assert.Equal(t, "call db: ok", a[3].String())
	})
}

func TestRecorderHTTP(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &chaos.Recorder{}
		inj := chaos.New(chaos.Config{Recorder: rec},
			chaos.Fault{Match: chaos.Method("GET"), Delay: chaos.Fixed(50 * time.Millisecond), Action: chaos.Status(503)},
			chaos.Fault{Match: chaos.Method("DELETE"), Action: chaos.Error(chaos.ErrInjected)},
		)
		rt := inj.Transport(&tracker{})
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			req, _ := http.NewRequest(m, "http://api.test/orders/1", nil)
			if resp, err := rt.RoundTrip(req); err == nil {
				_ = resp.Body.Close()
			}
		}
		a := rec.Attempts()
		require.Len(t, a, 3)
		assert.Equal(t, "GET http://api.test/orders/1: 503 [latency status]", a[0].String())
		assert.Equal(t, 50*time.Millisecond, a[0].Delay)
		assert.Equal(t, 50*time.Millisecond, a[0].End.Sub(a[0].Start))
		assert.Equal(t, "api.test", a[0].Key)
		assert.Equal(t, "PUT http://api.test/orders/1: 200", a[1].String())
		assert.Equal(t, "DELETE http://api.test/orders/1: chaos: injected fault [error]", a[2].String())
		assert.Equal(t, []time.Duration{50 * time.Millisecond, 0}, rec.Gaps())
	})
}

func TestRecorderOrdersByStart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &chaos.Recorder{}
		// The first call is the slowest: it ends last but is recorded first.
		inj := chaos.New(chaos.Config{Recorder: rec})
		var wg sync.WaitGroup
		for n := range 5 {
			wg.Go(func() {
				time.Sleep(time.Duration(n) * time.Millisecond)
				_ = inj.Do(resilience.WithKey(context.Background(), string(rune('a'+n))), func(context.Context) error {
					time.Sleep(time.Duration(10-2*n) * time.Millisecond)
					return nil
				})
			})
		}
		wg.Wait()
		keys := ""
		for _, a := range rec.Attempts() {
			keys += a.Key
		}
		assert.Equal(t, "abcde", keys)
	})
}

func TestRecorderZeroValueAndReset(t *testing.T) {
	t.Parallel()
	var rec chaos.Recorder
	assert.Zero(t, rec.Len())
	assert.Nil(t, rec.Gaps())
	assert.Empty(t, rec.Attempts())
	inj := chaos.New(chaos.Config{Recorder: &rec})
	boom := errors.New("boom")
	_ = inj.Do(context.Background(), func(context.Context) error { return boom })
	assert.Equal(t, 1, rec.Len())
	assert.Nil(t, rec.Gaps(), "one attempt has no gap")
	assert.Equal(t, "call: boom", rec.Attempts()[0].String())
	rec.Reset()
	assert.Zero(t, rec.Len())

	// Attempts is a copy.
	_ = inj.Do(context.Background(), func(context.Context) error { return nil })
	a := rec.Attempts()
	a[0].Key = "changed"
	assert.Empty(t, rec.Attempts()[0].Key)
	assert.Equal(t, "call: panic", chaos.Attempt{Panicked: true, Err: boom}.String())
}
