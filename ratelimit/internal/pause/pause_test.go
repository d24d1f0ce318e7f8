package pause_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/ratelimit"
	"github.com/resiliencekit/resilience/ratelimit/internal/pause"
)

func TestFromError(t *testing.T) {
	t.Parallel()
	withHeader := func(v string) *resilience.StatusError {
		return &resilience.StatusError{Code: 429, Response: &http.Response{Header: http.Header{"Ratelimit": {v}}}}
	}
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"nil", nil, 0},
		{"plain error", errors.New("x"), 0},
		{"429 with Retry-After", &resilience.StatusError{Code: 429, Wait: time.Second}, time.Second},
		{"503 with Retry-After", &resilience.StatusError{Code: 503, Wait: time.Second}, 0},
		{"429, RateLimit exhausted", withHeader(`"a";r=0;t=5, "b";r=0;t=9, "c";r=3;t=60`), 9 * time.Second},
		{"429, RateLimit not exhausted", withHeader(`"a";r=2;t=5`), 0},
		{"429, malformed RateLimit", withHeader(`"a";r=0;t=`), 0},
		{"429, huge RateLimit", withHeader(`"a";r=0;t=999999999`), resilience.MaxRetryAfter},
		{"own LimitedError", ratelimit.NewLimitedError("", ratelimit.ReasonRate, time.Second, nil), 0},
		{"other 429 error", status429{}, 2 * time.Second},
	}
	for _, tt := range tests {
		d, ok := pause.FromError(tt.err)
		assert.Equal(t, tt.want, d, tt.name)
		assert.Equal(t, tt.want > 0, ok, tt.name)
	}
}

type status429 struct{}

func (status429) Error() string             { return "429" }
func (status429) HTTPStatus() int           { return 429 }
func (status429) RetryAfter() time.Duration { return 2 * time.Second }

func FuzzPauseFromHeader(f *testing.F) {
	for _, s := range []string{`"default";r=0;t=30`, `a;r=0, b;r=7;t=1`, `"x";r=0;t=999999999`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := &resilience.StatusError{Code: 429, Response: &http.Response{Header: http.Header{"Ratelimit": {s}}}}
		if d, ok := pause.FromError(err); d < 0 || d > resilience.MaxRetryAfter || ok != (d > 0) {
			t.Fatalf("%q: %v, %v", s, d, ok)
		}
	})
}
