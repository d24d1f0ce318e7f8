package resilience_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"120", 120 * time.Second, true},
		{" 5\t", 5 * time.Second, true},
		{"007", 7 * time.Second, true},
		{"86400", 24 * time.Hour, true},
		{"86401", resilience.MaxRetryAfter, true},
		{"99999999999999999999999999", resilience.MaxRetryAfter, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Fri, 27 Nov 2026 12:01:00 GMT", time.Minute, true},
		{"Friday, 27-Nov-26 12:01:00 GMT", time.Minute, true}, // RFC 850
		{"Fri Nov 27 12:01:00 2026", time.Minute, true},       // asctime
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(1000 * time.Hour).Format(http.TimeFormat), resilience.MaxRetryAfter, true},
		{"", 0, false},
		{"   ", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"5s", 0, false},
		{"+5", 0, false},
		{"soon", 0, false},
		{"Fri, 32 Nov 2026 12:01:00 GMT", 0, false},
	} {
		got, ok := resilience.ParseRetryAfter(tc.in, now)
		assert.Equal(t, tc.ok, ok, "%q", tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", " 3 ", "Fri, 27 Nov 2026 12:01:00 GMT", "Friday, 27-Nov-26 12:01:00 GMT",
		"Fri Nov 27 12:01:00 2026", "-1", "1e3", "", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := resilience.ParseRetryAfter(s, now)
		if !ok {
			if d != 0 {
				t.Fatalf("%q: not ok but %v", s, d)
			}
			return
		}
		if d < 0 || d > resilience.MaxRetryAfter {
			t.Fatalf("%q: %v out of [0, MaxRetryAfter]", s, d)
		}
	})
}
