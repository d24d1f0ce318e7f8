package header

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRateLimitPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []QuotaPolicy
		err  bool
	}{
		{``, nil, false},
		{`"default";q=100;w=60`, []QuotaPolicy{{Name: "default", Quota: 100, Window: time.Minute}}, false},
		{`"burst";q=100;w=60,"daily";q=1000;w=86400`, []QuotaPolicy{
			{Name: "burst", Quota: 100, Window: time.Minute}, {Name: "daily", Quota: 1000, Window: 24 * time.Hour}}, false},
		{`  "a";q=1 ,	"b";q=2  `, []QuotaPolicy{{Name: "a", Quota: 1}, {Name: "b", Quota: 2}}, false},
		{`default;q=100;w=10`, []QuotaPolicy{{Name: "default", Quota: 100, Window: 10 * time.Second}}, false},
		{`"p";q=5;qu="content-bytes";pk=:Y2xpZW50:;acme-x=?1;z=1.5`, []QuotaPolicy{
			{Name: "p", Quota: 5, Unit: "content-bytes", PartitionKey: "Y2xpZW50"}}, false},
		{`"p";w=1;q=1;q=2`, []QuotaPolicy{{Name: "p", Quota: 2, Window: time.Second}}, false},
		{`"a\"b\\c";q=1`, []QuotaPolicy{{Name: `a"b\c`, Quota: 1}}, false},
		{`"p";w=60`, nil, true},               // q missing
		{`"p";q=-1`, nil, true},               // negative
		{`"p";q=1.5`, nil, true},              // not an integer
		{`"p";q=1;w=-5`, nil, true},           // negative window
		{`"p";q=1;w=0`, nil, true},            // a window must be positive
		{`"p";q="1"`, nil, true},              // wrong type
		{`"p";q=1,`, nil, true},               // trailing comma
		{`"p";q=1 "x"`, nil, true},            // junk
		{`("a" "b");q=1`, nil, true},          // inner list
		{`1;q=1`, nil, true},                  // item is not a name
		{`"p";Q=1`, nil, true},                // upper-case key
		{`"p";q=1234567890123456`, nil, true}, // 16 digits
		{`"unterminated;q=1`, nil, true},
		{`"p";q=1;pk="x"`, nil, true},
	}
	for _, tt := range tests {
		got, err := ParseRateLimitPolicy(tt.in)
		if tt.err {
			assert.Error(t, err, "%q", tt.in)
			continue
		}
		require.NoError(t, err, "%q", tt.in)
		assert.Equal(t, tt.want, nilIfEmpty(got), "%q", tt.in)
	}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestParseRateLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []ServiceLimit
		err  bool
	}{
		{`"default";r=50;t=30`, []ServiceLimit{{Name: "default", Remaining: 50, Reset: 30 * time.Second}}, false},
		{`"a";r=0, "b";r=7;t=1;pk=:AQ==:`, []ServiceLimit{{Name: "a"}, {Name: "b", Remaining: 7, Reset: time.Second, PartitionKey: "AQ=="}}, false},
		{`protection;r=50;t=30`, []ServiceLimit{{Name: "protection", Remaining: 50, Reset: 30 * time.Second}}, false},
		{`"a";t=3`, nil, true},
		{`"a";r=1;t=-3`, nil, true},
		{`"a";r=1;t=?1`, nil, true},
		{`"a";r=1;t=999999999999999`, []ServiceLimit{{Name: "a", Remaining: 1, Reset: math.MaxInt64}}, false},
	}
	for _, tt := range tests {
		got, err := ParseRateLimit(tt.in)
		if tt.err {
			assert.Error(t, err, "%q", tt.in)
			continue
		}
		require.NoError(t, err, "%q", tt.in)
		assert.Equal(t, tt.want, got, "%q", tt.in)
	}
}

func TestAppend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p      QuotaPolicy
		policy string
	}{
		{QuotaPolicy{Name: "default", Quota: 100, Window: 10 * time.Second}, `"default";q=100;w=10`},
		{QuotaPolicy{Name: "fast", Quota: 1, Window: time.Millisecond}, `"fast";q=1;w=1`},
		{QuotaPolicy{Name: "slow", Quota: 1, Window: 1500 * time.Millisecond}, `"slow";q=1;w=2`},
		{QuotaPolicy{Name: `we"ird` + "\n", Quota: 5}, `"we\"ird?";q=5`},
		{QuotaPolicy{Name: "b", Quota: 5, Unit: "content-bytes", PartitionKey: "Y2xpZW50"}, `"b";q=5;qu="content-bytes";pk=:Y2xpZW50:`},
	}
	for _, tt := range tests {
		got := string(AppendRateLimitPolicy(nil, tt.p))
		assert.Equal(t, tt.policy, got)
		_, err := ParseRateLimitPolicy(got)
		assert.NoError(t, err)
	}
	assert.Equal(t, `"x";r=3;t=2`, string(AppendRateLimit(nil, ServiceLimit{Name: "x", Remaining: 3, Reset: 1500 * time.Millisecond})))
	assert.Equal(t, `"x";r=0;t=0`, string(AppendRateLimit(nil, ServiceLimit{Name: "x", Remaining: -1})))
	assert.Equal(t, `"x";r=5`, string(AppendRateLimit(nil, ServiceLimit{Name: "x", Remaining: 5, Reset: -1})), "a negative Reset leaves t out")
	assert.Equal(t, `"x";r=5;t=1;pk=:AQ==:`, string(AppendRateLimit(nil, ServiceLimit{Name: "x", Remaining: 5, Reset: time.Second, PartitionKey: "AQ=="})))
}

func FuzzParseRateLimitPolicy(f *testing.F) {
	for _, s := range []string{`"default";q=100;w=60`, `a;q=1, b;q=2;qu="x";pk=:AA==:`, `"p";q=1;x=?0;y=@12;z=%"a%20b";d=-1.25`, `("a");q=1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseRateLimitPolicy(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Quota < 0 || p.Window < 0 {
				t.Fatalf("%q: negative value in %+v", s, p)
			}
			// What we write for a parsed policy parses back to the same.
			back, err := ParseRateLimitPolicy(string(AppendRateLimitPolicy(nil, p)))
			if err != nil || len(back) != 1 || back[0].Name != sanitize(p.Name) || back[0].Quota != p.Quota {
				t.Fatalf("%q: round trip of %+v gave %+v, %v", s, p, back, err)
			}
		}
	})
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

func FuzzParseRateLimit(f *testing.F) {
	for _, s := range []string{`"default";r=50;t=30`, `a;r=0, b;r=7;t=1`, `"x";r=1;t=2;pk=:AQ==:`, `"";r=0`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ls, err := ParseRateLimit(s)
		if err != nil {
			return
		}
		for _, l := range ls {
			if l.Remaining < 0 || l.Reset < 0 {
				t.Fatalf("%q: negative value in %+v", s, l)
			}
		}
		// What we write for a parsed limit parses back to the same.
		for _, l := range ls {
			back, err := ParseRateLimit(string(AppendRateLimit(nil, l)))
			if err != nil || len(back) != 1 || back[0].Name != sanitize(l.Name) || back[0].Remaining != l.Remaining {
				t.Fatalf("%q: round trip of %+v gave %+v, %v", s, l, back, err)
			}
		}
	})
}
