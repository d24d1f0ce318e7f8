package hedge_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
	"github.com/resiliencekit/resilience/internal/observetest"
)

// ev is an event of the Hedge named "replicas".
func ev(k resilience.EventKind, attempt int, d time.Duration, err error) resilience.Event {
	return resilience.Event{Kind: k, Policy: "hedge", Name: "replicas", Attempt: attempt, Duration: d, Err: err}
}

// The events of hedged calls with a delay of 20 ms, in virtual time, in
// the order they happen: the attempts report from their own goroutines,
// and each before the call can end.
func TestEvents(t *testing.T) {
	t.Parallel()
	perm := resilience.Permanent(errTransient)
	tests := []struct {
		name      string
		maxHedges int
		steps     []step
		want      []resilience.Event
	}{
		{"fast first: no hedge", 0, []step{{latency: ms(5)}}, []resilience.Event{
			ev(resilience.EventAttempt, 1, ms(5), nil),
			ev(resilience.EventDone, 1, ms(5), nil),
		}},
		{"slow first: the hedge wins", 0, []step{{latency: ms(100)}, {latency: ms(10)}}, []resilience.Event{
			ev(resilience.EventHedge, 2, 0, nil),
			ev(resilience.EventAttempt, 2, ms(10), nil),
			ev(resilience.EventAttempt, 1, ms(30), hedge.ErrLost),
			ev(resilience.EventDone, 2, ms(30), nil),
		}},
		{"slow first: the hedge loses", 0, []step{{latency: ms(25)}, {latency: ms(10)}}, []resilience.Event{
			ev(resilience.EventHedge, 2, 0, nil),
			ev(resilience.EventAttempt, 1, ms(25), nil),
			ev(resilience.EventAttempt, 2, ms(5), hedge.ErrLost),
			ev(resilience.EventDone, 2, ms(25), nil),
		}},
		{"a failure starts the hedge at once", 0, []step{{latency: ms(5), err: errTransient}, {latency: ms(10)}}, []resilience.Event{
			ev(resilience.EventAttempt, 1, ms(5), errTransient),
			ev(resilience.EventHedge, 2, 0, errTransient),
			ev(resilience.EventAttempt, 2, ms(10), nil),
			ev(resilience.EventDone, 2, ms(15), nil),
		}},
		{"every attempt fails", 0, []step{{latency: ms(30), err: errTransient}, {latency: ms(30), err: errTransient}}, []resilience.Event{
			ev(resilience.EventHedge, 2, 0, nil),
			ev(resilience.EventAttempt, 1, ms(30), errTransient),
			ev(resilience.EventAttempt, 2, ms(30), errTransient),
			ev(resilience.EventDone, 2, ms(50), errTransient),
		}},
		{"a permanent error ends the call", 2, []step{{latency: ms(100)}, {latency: ms(5), err: perm}}, []resilience.Event{
			ev(resilience.EventHedge, 2, 0, nil),
			ev(resilience.EventAttempt, 2, ms(5), perm),
			ev(resilience.EventAttempt, 1, ms(25), hedge.ErrLost),
			ev(resilience.EventDone, 2, ms(25), perm),
		}},
		{"two hedges, the last wins", 2, []step{{latency: time.Hour}, {latency: time.Hour}, {latency: ms(10)}}, []resilience.Event{
			ev(resilience.EventHedge, 2, 0, nil),
			ev(resilience.EventHedge, 3, 0, nil),
			ev(resilience.EventAttempt, 3, ms(10), nil),
			// The losers, cancelled together, return in either order:
			// sorted below.
			ev(resilience.EventAttempt, 1, ms(50), hedge.ErrLost),
			ev(resilience.EventAttempt, 2, ms(30), hedge.ErrLost),
			ev(resilience.EventDone, 3, ms(50), nil),
		}},
		{"no hedge: a plain call", resilience.None, []step{{latency: ms(100), err: errTransient}}, []resilience.Event{
			ev(resilience.EventAttempt, 1, ms(100), errTransient),
			ev(resilience.EventDone, 1, ms(100), errTransient),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rec := &observetest.Log{}
				h := hedge.New(hedge.Config{Name: "replicas", Delay: ms(20), MaxHedges: tt.maxHedges, Observer: rec})
				s := newScript(tt.steps...)
				err := h.Do(t.Context(), s.plain)
				got := rec.Events()
				require.NotEmpty(t, got)
				assert.Equal(t, ev(resilience.EventDone, s.attempts(), got[len(got)-1].Duration, err), got[len(got)-1], "Done: what Do returned")
				if len(got) == 6 && got[3].Attempt > got[4].Attempt {
					got[3], got[4] = got[4], got[3]
				}
				assert.Equal(t, tt.want, got)
			})
		})
	}
}

// EventHedge follows OnHedge, with the caller's context.
func TestEventsAfterOnHedge(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		var mu sync.Mutex
		var got []string
		h := hedge.New(hedge.Config{
			Delay:   ms(20),
			OnHedge: func(context.Context, int, error) { mu.Lock(); got = append(got, "OnHedge"); mu.Unlock() },
			Observer: resilience.ObserverFunc(func(ctx context.Context, e resilience.Event) {
				mu.Lock()
				got = append(got, e.Kind.String()+" "+ctx.Value(key{}).(string))
				mu.Unlock()
			}),
		})
		s := newScript(step{latency: ms(100)}, step{latency: ms(10)})
		ctx := context.WithValue(t.Context(), key{}, "trace-1")
		require.NoError(t, h.Do(ctx, s.plain))
		assert.Equal(t, []string{"OnHedge", "hedge trace-1", "attempt trace-1", "attempt trace-1", "done trace-1"}, got)
	})
}

// A panic reports no EventAttempt for its attempt and no EventDone; the
// other attempts still report theirs.
func TestEventsOfAPanic(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &observetest.Log{}
		h := hedge.New(hedge.Config{Name: "replicas", Delay: ms(20), Observer: rec})
		s := newScript(step{latency: ms(100)}, step{latency: ms(10), panics: "boom"})
		assert.PanicsWithValue(t, "boom", func() { _ = h.Do(t.Context(), s.plain) })
		assert.Equal(t, []resilience.Event{
			ev(resilience.EventHedge, 2, 0, nil),
			ev(resilience.EventAttempt, 1, ms(30), hedge.ErrLost),
		}, rec.Events())
	})
}

// Under resilience.Transport, a request that may not be sent twice is
// one attempt, reported as such; a GET is hedged.
func TestEventsUnderTransport(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		method string
		want   []resilience.Event
	}{
		{http.MethodPost, []resilience.Event{
			ev(resilience.EventAttempt, 1, ms(100), nil),
			ev(resilience.EventDone, 1, ms(100), nil),
		}},
		{http.MethodGet, []resilience.Event{
			ev(resilience.EventHedge, 2, 0, nil),
			ev(resilience.EventAttempt, 2, ms(10), nil),
			ev(resilience.EventAttempt, 1, ms(30), context.Canceled),
			ev(resilience.EventDone, 2, ms(30), nil),
		}},
	} {
		t.Run(tt.method, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rec := &observetest.Log{}
				srv := &fakeServer{latency: []time.Duration{ms(100), ms(10)}}
				h := hedge.New(hedge.Config{Name: "replicas", Delay: ms(20), Observer: rec})
				client := &http.Client{Transport: resilience.Transport(srv, h)}
				req, err := http.NewRequestWithContext(t.Context(), tt.method, "http://api.test/items", nil)
				require.NoError(t, err)
				resp, err := client.Do(req)
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				require.NoError(t, resp.Body.Close())
				assert.Equal(t, tt.want, rec.Events())
			})
		})
	}
}
