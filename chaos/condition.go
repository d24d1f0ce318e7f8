package chaos

import (
	"net"
	"net/http"
	"path"
	"strings"
	"sync/atomic"
	"time"
)

// Call is what an [Injector] knows about a call when it decides which
// faults apply.
type Call struct {
	// Time is when the injector saw the call (time.Now, so virtual time in
	// a testing/synctest bubble).
	Time time.Time
	// Key is the key of the call's context (resilience.KeyFrom). Transport
	// uses the request's host when the context has none, as
	// resilience.Transport does.
	Key string
	// Request is the HTTP request for Transport and Handler calls, nil for
	// calls through Do. Conditions must not modify it.
	Request *http.Request
}

// Condition decides whether a fault applies to a call. Matchers such as
// [Method] and [Path] look only at the call; selectors such as [Rate],
// [First] and [Between] keep state or look at the clock. Write your own as
// a plain function, for example to read a flag of yours:
//
//	When: func(chaos.Call) bool { return outage.Load() }
//
// A Condition is called from many goroutines at once and must be safe for
// that.
type Condition func(c Call) bool

// All returns a condition that holds when every one of conds holds. It asks
// them in order and stops at the first that does not hold, so a stateful
// condition (First, Rate) only counts the calls that the ones before it let
// through. All() holds for every call.
func All(conds ...Condition) Condition {
	conds = nonNil(conds)
	return func(c Call) bool {
		for _, f := range conds {
			if !f(c) {
				return false
			}
		}
		return true
	}
}

// Any returns a condition that holds when at least one of conds holds. It
// asks them in order and stops at the first that holds. Any() holds for no
// call.
func Any(conds ...Condition) Condition {
	conds = nonNil(conds)
	return func(c Call) bool {
		for _, f := range conds {
			if f(c) {
				return true
			}
		}
		return false
	}
}

// Not returns a condition that holds when cond does not. It panics when
// cond is nil.
func Not(cond Condition) Condition {
	if cond == nil {
		panic("chaos: Not with a nil condition")
	}
	return func(c Call) bool { return !cond(c) }
}

func nonNil(conds []Condition) []Condition {
	out := make([]Condition, 0, len(conds))
	for _, f := range conds {
		if f != nil {
			out = append(out, f)
		}
	}
	return out
}

// Method matches HTTP requests with one of the given methods (compared
// without regard to case; an empty request method is GET). Calls through
// Do, which have no request, never match.
func Method(methods ...string) Condition {
	return func(c Call) bool {
		if c.Request == nil {
			return false
		}
		m := c.Request.Method
		if m == "" {
			m = http.MethodGet
		}
		for _, want := range methods {
			if strings.EqualFold(m, want) {
				return true
			}
		}
		return false
	}
}

// Host matches HTTP requests to one of the given hosts. A host given
// without a port matches the host on any port; with a port it must match
// exactly. The request's host is its URL's host on the client side and its
// Host field on the server side. Calls through Do never match.
func Host(hosts ...string) Condition {
	return func(c Call) bool {
		if c.Request == nil {
			return false
		}
		h := c.Request.URL.Host
		if h == "" {
			h = c.Request.Host
		}
		name := h
		if n, _, err := net.SplitHostPort(h); err == nil {
			name = n
		}
		for _, want := range hosts {
			if strings.EqualFold(h, want) || strings.EqualFold(name, strings.Trim(want, "[]")) {
				return true
			}
		}
		return false
	}
}

// Path matches HTTP requests whose URL path matches one of the patterns,
// with the syntax of path.Match: "/v1/orders/*" matches "/v1/orders/42"
// but not "/v1/orders/42/items". It panics on a malformed pattern. Calls
// through Do never match.
func Path(patterns ...string) Condition {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			panic("chaos: bad Path pattern " + p + ": " + err.Error())
		}
	}
	return func(c Call) bool {
		if c.Request == nil {
			return false
		}
		for _, p := range patterns {
			if ok, _ := path.Match(p, c.Request.URL.Path); ok {
				return true
			}
		}
		return false
	}
}

// PathPrefix matches HTTP requests whose URL path starts with one of the
// prefixes. Calls through Do never match.
func PathPrefix(prefixes ...string) Condition {
	return func(c Call) bool {
		if c.Request == nil {
			return false
		}
		for _, p := range prefixes {
			if strings.HasPrefix(c.Request.URL.Path, p) {
				return true
			}
		}
		return false
	}
}

// Header matches HTTP requests that have the header name with one of the
// values (compared exactly), or with any value when values is empty. Calls
// through Do never match.
func Header(name string, values ...string) Condition {
	name = http.CanonicalHeaderKey(name)
	return func(c Call) bool {
		if c.Request == nil {
			return false
		}
		got, ok := c.Request.Header[name]
		if !ok {
			return false
		}
		if len(values) == 0 {
			return true
		}
		for _, g := range got {
			for _, v := range values {
				if g == v {
					return true
				}
			}
		}
		return false
	}
}

// Key matches calls whose key (see [Call]) is one of keys. It works for Do
// as well as for HTTP: Transport's key is the request's host unless the
// caller set one with resilience.WithKey.
func Key(keys ...string) Condition {
	return func(c Call) bool {
		for _, k := range keys {
			if c.Key == k {
				return true
			}
		}
		return false
	}
}

// Rate picks a fraction p (0 to 1) of the calls it is asked about, at
// random, from a random sequence fixed by seed: the same seed picks the
// same calls by their order (the 1st, 5th, 9th, ...) on every run, so a
// failing test fails again. Under concurrency the sequence is the same but
// which goroutine's call comes n-th is up to the scheduler. Rate is lock
// free. It panics when p is outside [0, 1].
func Rate(p float64, seed uint64) Condition {
	if !(p >= 0 && p <= 1) {
		panic("chaos: Rate p outside [0, 1]")
	}
	var n atomic.Uint64
	return func(Call) bool {
		return unit(seed, n.Add(1)) < p
	}
}

// First picks the first n calls it is asked about and no others: "fail 3
// times, then succeed" is First(3). It panics when n < 0.
func First(n int) Condition {
	if n < 0 {
		panic("chaos: First with n < 0")
	}
	var seen atomic.Int64
	return func(Call) bool {
		return seen.Add(1) <= int64(n)
	}
}

// Every picks every n-th call it is asked about: the n-th, 2n-th, and so
// on. It panics when n < 1.
func Every(n int) Condition {
	if n < 1 {
		panic("chaos: Every with n < 1")
	}
	var seen atomic.Int64
	return func(Call) bool {
		return seen.Add(1)%int64(n) == 0
	}
}

// Script plays a script, one character per call it is asked about: 'x' (or
// 'X') picks the call, any other character ('.' by convention) lets it
// pass. After the end of the script its last character repeats, so
//
//	Script("xxx.")  fails 3 calls, then none
//	Script("..x")   lets 2 calls pass, then fails every one
//	Script("x.x..") fails the 1st and 3rd calls
//
// It panics on an empty script.
func Script(script string) Condition {
	if script == "" {
		panic("chaos: empty Script")
	}
	var seen atomic.Int64
	return func(Call) bool {
		i := seen.Add(1) - 1
		if i >= int64(len(script)) {
			i = int64(len(script)) - 1
		}
		return script[i] == 'x' || script[i] == 'X'
	}
}

// Cycle plays a script as [Script] does, but starts it again from the
// beginning after its end: Cycle("x..") fails the 1st, 4th, 7th, ... calls.
// It panics on an empty script.
func Cycle(script string) Condition {
	if script == "" {
		panic("chaos: empty Cycle")
	}
	var seen atomic.Int64
	return func(Call) bool {
		i := (seen.Add(1) - 1) % int64(len(script))
		return script[i] == 'x' || script[i] == 'X'
	}
}

// Between picks the calls made from start (included) to end (excluded), by
// the clock (time.Now): "the dependency is down from 10:00 to 10:05". A
// zero start means since ever, a zero end for ever. Inside a
// testing/synctest bubble the clock is virtual and starts at midnight UTC,
// 2000-01-01, so an outage plays out at once and exactly:
//
//	t0 := time.Now()
//	down := chaos.Between(t0.Add(time.Minute), t0.Add(2*time.Minute))
//
// It panics when end is before start.
func Between(start, end time.Time) Condition {
	if !start.IsZero() && !end.IsZero() && end.Before(start) {
		panic("chaos: Between with end before start")
	}
	return func(c Call) bool {
		t := c.Time
		if t.IsZero() {
			t = time.Now()
		}
		return (start.IsZero() || !t.Before(start)) && (end.IsZero() || t.Before(end))
	}
}
