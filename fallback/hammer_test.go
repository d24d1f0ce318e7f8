package fallback_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/fallback"
)

// Many callers on one Fallback with Stale and a small MaxKeys, over more
// keys than it holds, with successes, failures, cancels and panics: every
// answer is op's value of that key, a remembered one of that key, or the
// substitute; the counters add up; the bound holds (run with -race).
func TestHammerStale(t *testing.T) {
	t.Parallel()
	const (
		callers = 8
		calls   = 400
		keys    = 12
		maxKeys = 8
	)
	fb := fallback.New(fallback.Value("sub"), fallback.Config{Stale: time.Hour, MaxKeys: maxKeys})
	var wg sync.WaitGroup
	var panics, cancels atomic.Uint64
	for g := range callers {
		wg.Go(func() {
			for i := range calls {
				key := fmt.Sprint((g*31 + i*7) % keys)
				ctx, cancel := context.WithCancel(resilience.WithKey(context.Background(), key))
				mode := (g + i*3) % 5
				v, err, panicked := func() (v string, err error, panicked bool) {
					defer func() {
						if recover() != nil {
							panicked = true
						}
					}()
					v, err = resilience.Do(ctx, fb, func(ctx context.Context) (string, error) {
						switch mode {
						case 0, 1:
							return key + ":" + fmt.Sprint(i), nil
						case 2:
							return "", errDown
						case 3:
							cancel()
							return "", ctx.Err()
						}
						panic("op panicked")
					})
					return v, err, false
				}()
				cancel()
				switch mode {
				case 0, 1:
					assert.NoError(t, err)
					assert.Equal(t, key+":"+fmt.Sprint(i), v)
				case 2:
					assert.NoError(t, err)
					assert.True(t, v == "sub" || strings.HasPrefix(v, key+":"), "key %s answered with %q", key, v)
				case 3:
					cancels.Add(1)
					assert.ErrorIs(t, err, context.Canceled)
				case 4:
					panics.Add(1)
					assert.True(t, panicked)
				}
			}
		})
	}
	wg.Wait()
	m := fb.Metrics()
	var answered uint64
	for _, n := range m.Fallbacks {
		answered += n
	}
	assert.Equal(t, m.Failures, m.Unmatched+answered)
	assert.Equal(t, cancels.Load(), m.Unmatched)
	assert.Equal(t, uint64(callers*calls)-panics.Load(), m.Failures+m.Stored)
	assert.LessOrEqual(t, m.Keys, maxKeys)
	assert.Positive(t, m.Evicted)
	assert.Positive(t, m.Fallbacks[fallback.KindStale])
}

// Many callers of one URL through Transport while the upstream flips
// between good and failing: every body read is whole and one of the good
// ones, whether fresh or stale, and the byte bound holds.
func TestHammerHTTP(t *testing.T) {
	t.Parallel()
	var gen atomic.Int64
	var down atomic.Bool
	rt := roundTripper(func(req *http.Request) (*http.Response, error) {
		if down.Load() {
			return nil, errDown
		}
		body := strings.Repeat(fmt.Sprintf("<%d>", gen.Add(1)%10), 200)
		resp := response(req, http.StatusOK, nil, io.NopCloser(strings.NewReader(body)))
		resp.ContentLength = int64(len(body))
		return resp, nil
	})
	fb := fallback.NewHTTP(fallback.StaticResponse(http.StatusOK, nil, "dummy"), fallback.HTTPConfig{Stale: time.Hour, MaxBytes: 4 << 10, MaxBody: 1 << 10})
	c := &http.Client{Transport: resilience.Transport(rt, fb)}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if g == 0 && i%10 == 0 {
					down.Store(!down.Load())
				}
				url := fmt.Sprintf("http://upstream.test/%d", (g+i)%6)
				resp, err := c.Get(url)
				require.NoError(t, err)
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				_ = resp.Body.Close()
				s := string(b)
				if s == "dummy" {
					continue
				}
				require.Len(t, s, 600, "%s: %q", url, s)
				assert.Equal(t, strings.Repeat(s[:3], 200), s)
			}
		})
	}
	wg.Wait()
	m := fb.Metrics()
	assert.LessOrEqual(t, m.Bytes, int64(4<<10))
	assert.Positive(t, m.Fallbacks[fallback.KindStale])
}
