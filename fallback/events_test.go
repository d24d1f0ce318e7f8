package fallback_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/fallback"
	"github.com/resiliencekit/resilience/internal/observetest"
)

// fallbackEvent is the event of the fallback named "rates" answering err
// with reason.
func fallbackEvent(reason string, err error) resilience.Event {
	return resilience.Event{Kind: resilience.EventFallback, Policy: "fallback", Name: "rates", Reason: reason, Err: err}
}

var errSub = errors.New("secondary down")

// One event per failure that Match accepted, with the kind of answer as
// its Reason and op's error; nothing for a success, a failure Match turned
// down, or a panic. In virtual time, so that a value can grow too old.
func TestEvents(t *testing.T) {
	t.Parallel()
	ok := func(context.Context) (int, error) { return 1, nil }
	tests := []struct {
		name string
		make func(c fallback.Config) resilience.Policy
		run  func(ctx context.Context, p resilience.Policy) error
		want []resilience.Event
	}{
		{"value", func(c fallback.Config) resilience.Policy { return fallback.New(fallback.Value(-1), c) },
			func(ctx context.Context, p resilience.Policy) error {
				_, err := resilience.Do(ctx, p, fails[int](errDown))
				return err
			}, []resilience.Event{fallbackEvent("value", errDown)}},
		{"stale", func(c fallback.Config) resilience.Policy {
			c.Stale = time.Minute
			return fallback.New(fallback.Value(-1), c)
		}, func(ctx context.Context, p resilience.Policy) error {
			if _, err := resilience.Do(ctx, p, ok); err != nil {
				return err
			}
			time.Sleep(59 * time.Second)
			v, err := resilience.Do(ctx, p, fails[int](errDown))
			if v != 1 {
				return errors.New("not the stale value")
			}
			return err
		}, []resilience.Event{fallbackEvent("stale", errDown)}},
		{"failed", func(c fallback.Config) resilience.Policy {
			return fallback.New(func(context.Context, error) (int, error) { return 0, errSub }, c)
		}, func(ctx context.Context, p resilience.Policy) error {
			_, err := resilience.Do(ctx, p, fails[int](errDown))
			var se *fallback.SubstituteError
			if !errors.As(err, &se) {
				return errors.New("not a SubstituteError")
			}
			return nil
		}, []resilience.Event{fallbackEvent("failed", errDown)}},
		{"no value: too old", func(c fallback.Config) resilience.Policy {
			c.Stale = time.Minute
			return fallback.New[int](nil, c)
		}, func(ctx context.Context, p resilience.Policy) error {
			if _, err := resilience.Do(ctx, p, ok); err != nil {
				return err
			}
			time.Sleep(61 * time.Second)
			if _, err := resilience.Do(ctx, p, fails[int](errDown)); err != errDown {
				return errors.New("not op's error")
			}
			return nil
		}, []resilience.Event{fallbackEvent("no_value", errDown)}},
		{"no result", func(c fallback.Config) resilience.Policy { return fallback.New(fallback.Value(-1), c) },
			func(ctx context.Context, p resilience.Policy) error {
				if err := p.Do(ctx, func(context.Context) error { return errDown }); !errors.Is(err, fallback.ErrNoResult) {
					return errors.New("not ErrNoResult")
				}
				return nil
			}, []resilience.Event{fallbackEvent("no_result", errDown)}},
		{"NewFunc: value", func(c fallback.Config) resilience.Policy {
			return fallback.NewFunc(func(context.Context, error) error { return nil }, c)
		}, func(ctx context.Context, p resilience.Policy) error {
			return p.Do(ctx, func(context.Context) error { return errDown })
		}, []resilience.Event{fallbackEvent("value", errDown)}},
		{"NewFunc: failed", func(c fallback.Config) resilience.Policy {
			return fallback.NewFunc(func(context.Context, error) error { return errSub }, c)
		}, func(ctx context.Context, p resilience.Policy) error {
			if err := p.Do(ctx, func(context.Context) error { return errDown }); !errors.Is(err, errSub) {
				return errors.New("not alt's error")
			}
			return nil
		}, []resilience.Event{fallbackEvent("failed", errDown)}},
		{"success", func(c fallback.Config) resilience.Policy { return fallback.New(fallback.Value(-1), c) },
			func(ctx context.Context, p resilience.Policy) error {
				_, err := resilience.Do(ctx, p, ok)
				return err
			}, nil},
		{"the caller gave up: not matched", func(c fallback.Config) resilience.Policy { return fallback.New(fallback.Value(-1), c) },
			func(ctx context.Context, p resilience.Policy) error {
				ctx, cancel := context.WithCancel(ctx)
				cancel()
				if _, err := resilience.Do(ctx, p, fails[int](errDown)); err != errDown {
					return errors.New("answered")
				}
				return nil
			}, nil},
		{"panic", func(c fallback.Config) resilience.Policy { return fallback.New(fallback.Value(-1), c) },
			func(ctx context.Context, p resilience.Policy) (err error) {
				defer func() {
					if recover() == nil {
						err = errors.New("no panic")
					}
				}()
				_, _ = resilience.Do(ctx, p, func(context.Context) (int, error) { panic("boom") })
				return nil
			}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rec := &observetest.Log{}
				p := tt.make(fallback.Config{Name: "rates", Observer: rec})
				require.NoError(t, tt.run(t.Context(), p))
				assert.Equal(t, tt.want, rec.Events())
			})
		})
	}
}

// The event follows OnFallback, with the caller's context, before Do
// returns.
func TestEventsAfterOnFallback(t *testing.T) {
	t.Parallel()
	type key struct{}
	var got []string
	fb := fallback.New(fallback.Value(-1), fallback.Config{
		OnFallback: func(_ context.Context, _ error, k fallback.Kind) { got = append(got, "OnFallback "+k.String()) },
		Observer: resilience.ObserverFunc(func(ctx context.Context, e resilience.Event) {
			got = append(got, e.Kind.String()+" "+e.Reason+" "+ctx.Value(key{}).(string))
		}),
	})
	ctx := context.WithValue(context.Background(), key{}, "trace-1")
	_, err := resilience.Do(ctx, fb, fails[int](errDown))
	require.NoError(t, err)
	assert.Equal(t, []string{"OnFallback value", "fallback value trace-1"}, got)
}

// NewHTTP under resilience.Transport, in virtual time: the event of each
// kind of answer carries the failure of the round trip.
func TestEventsHTTP(t *testing.T) {
	t.Parallel()
	respondErr := func(*http.Request, error) (*http.Response, error) { return nil, errSub }
	tests := []struct {
		name    string
		respond func(*http.Request, error) (*http.Response, error)
		stale   time.Duration
		wait    time.Duration // between the good response and the failure
		reason  string
		body    string // what the caller gets
	}{
		{"value", fallback.StaticResponse(http.StatusOK, nil, "dummy"), 0, 0, "value", "dummy"},
		{"stale", fallback.StaticResponse(http.StatusOK, nil, "dummy"), time.Hour, 30 * time.Minute, "stale", "good"},
		{"stale too old: respond's value", fallback.StaticResponse(http.StatusOK, nil, "dummy"), time.Hour, 2 * time.Hour, "value", "dummy"},
		{"failed", respondErr, 0, 0, "failed", ""},
		{"no value", nil, time.Hour, 2 * time.Hour, "no_value", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				down := false
				rt := roundTripper(func(req *http.Request) (*http.Response, error) {
					if down {
						return nil, errDown
					}
					return response(req, http.StatusOK, nil, io.NopCloser(strings.NewReader("good"))), nil
				})
				rec := &observetest.Log{}
				var hooked []error
				fb := fallback.NewHTTP(tt.respond, fallback.HTTPConfig{
					Name: "rates", Stale: tt.stale, Observer: rec,
					OnFallback: func(_ context.Context, err error, _ fallback.Kind) { hooked = append(hooked, err) },
				})
				c := &http.Client{Transport: resilience.Transport(rt, fb)}
				_, body := get(t, c, "http://upstream.test/rates")
				assert.Equal(t, "good", body)
				assert.Empty(t, rec.Events(), "a success reports nothing")
				time.Sleep(tt.wait)
				down = true
				resp, err := c.Get("http://upstream.test/rates")
				if tt.body == "" {
					require.Error(t, err)
				} else {
					require.NoError(t, err)
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					assert.Equal(t, tt.body, string(b))
				}
				require.Len(t, hooked, 1)
				assert.ErrorIs(t, hooked[0], errDown)
				assert.Equal(t, []resilience.Event{fallbackEvent(tt.reason, hooked[0])}, rec.Events())
			})
		})
	}
}

// NewHTTP outside resilience.Transport cannot answer, and says so.
func TestEventsHTTPNoResult(t *testing.T) {
	t.Parallel()
	rec := &observetest.Log{}
	fb := fallback.NewHTTP(fallback.StaticResponse(http.StatusOK, nil, "dummy"), fallback.HTTPConfig{Name: "rates", Observer: rec})
	err := fb.Do(context.Background(), func(context.Context) error { return errDown })
	require.ErrorIs(t, err, fallback.ErrNoResult)
	assert.Equal(t, []resilience.Event{fallbackEvent("no_result", errDown)}, rec.Events())
}
