package ratelimit

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/time/rate"

	"github.com/resiliencekit/resilience/ratelimit/header"
)

func TestSetHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q      Quota
		policy string
	}{
		{Quota{Rate: 10, Burst: 100}, `"default";q=100;w=10`},
		{PerWindow(100, time.Minute), `"default";q=100;w=60`},
		{Quota{Rate: 1000, Burst: 1, Name: "fast"}, `"fast";q=1;w=1`},
		{Quota{Rate: 0, Burst: 5, Name: `we"ird` + "\n"}, `"we\"ird?";q=5`},
	}
	for _, tt := range tests {
		h := http.Header{}
		Decision{Allowed: true, Quota: tt.q, Remaining: 1}.SetHeaders(h, DraftHeaders)
		got := h.Get("RateLimit-Policy")
		assert.Equal(t, tt.policy, got)
		_, err := header.ParseRateLimitPolicy(got)
		assert.NoError(t, err)
	}
	rateLimit := func(d Decision) string {
		h := http.Header{}
		d.SetHeaders(h, DraftHeaders)
		return h.Get("RateLimit")
	}
	q := Quota{Rate: 1, Burst: 5, Name: "x"}
	assert.Equal(t, `"x";r=3;t=2`, rateLimit(Decision{Allowed: true, Quota: q, Remaining: 3, Reset: 1500 * time.Millisecond}))
	assert.Equal(t, `"x";r=0;t=1`, rateLimit(Decision{Quota: q, Remaining: 0, Reset: 9 * time.Second, RetryAfter: 200 * time.Millisecond}),
		"t matches Retry-After on a refusal")
	assert.Equal(t, `"x";r=2`, rateLimit(Decision{Allowed: true, Quota: Quota{Burst: 5, Name: "x"}, Remaining: 2, Reset: never}),
		"no t for a bucket that never refills")
	assert.Empty(t, rateLimit(Decision{Allowed: true, Quota: Quota{Rate: rate.Inf, Burst: 5}, Remaining: 5}), "rate.Inf announces nothing")
	assert.Empty(t, rateLimit(Decision{Allowed: true, Quota: q, Remaining: -1}), "no bucket state")
}
