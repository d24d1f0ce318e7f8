package resilience

import (
	"net/http"
	"time"
)

// MaxRetryAfter caps the durations that [ParseRetryAfter] returns, so that a
// misbehaving server cannot park a client for days (or overflow a
// time.Duration) with a huge Retry-After.
const MaxRetryAfter = 24 * time.Hour

// ParseRetryAfter parses the value of an HTTP Retry-After header (RFC 9110,
// section 10.2.3): either delay-seconds, a non-negative decimal integer, or
// an HTTP-date, which is converted to a duration relative to now. A date in
// the past yields 0 (retry at once). The result is capped at
// [MaxRetryAfter]. The two-digit years of the obsolete RFC 850 form are read
// as RFC 9110 (section 5.6.7) says: a year that would be more than 50 years
// in the future is the most recent past year with those digits. It reports
// false for an empty or malformed value, which
// callers must treat as "no hint".
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	// Trim the optional whitespace a field value may carry.
	for len(value) > 0 && (value[0] == ' ' || value[0] == '\t') {
		value = value[1:]
	}
	for len(value) > 0 && (value[len(value)-1] == ' ' || value[len(value)-1] == '\t') {
		value = value[:len(value)-1]
	}
	if value == "" {
		return 0, false
	}
	if value[0] >= '0' && value[0] <= '9' {
		const maxSecs = int64(MaxRetryAfter / time.Second)
		var secs int64
		for i := 0; i < len(value); i++ {
			c := value[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			if secs <= maxSecs { // stop growing once past the cap: no overflow
				secs = secs*10 + int64(c-'0')
			}
		}
		if secs > maxSecs {
			return MaxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	if _, err := time.Parse(time.RFC850, value); err == nil {
		t = fiftyYearRule(t, now)
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		return 0, true
	case d > MaxRetryAfter:
		return MaxRetryAfter, true
	}
	return d, true
}

// fiftyYearRule places the two-digit year of an RFC 850 date t in the
// century that RFC 9110 section 5.6.7 asks for, relative to now.
func fiftyYearRule(t, now time.Time) time.Time {
	yy := t.Year() % 100
	year := now.Year() - now.Year()%100 + yy // this century
	if year > now.Year()+50 {
		year -= 100
	}
	return t.AddDate(year-t.Year(), 0, 0)
}
