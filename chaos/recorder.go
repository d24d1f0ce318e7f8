package chaos

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// Recorder keeps every call that an [Injector] with this recorder saw (see
// Config.Recorder), in the order they started, so that a test can check
// what its code did: how many attempts, how far apart, which failed and
// why. Place the injector where the attempts happen, inside the retry and
// breaker policies, and each attempt is one entry.
//
// The zero Recorder is ready to use. A Recorder is safe for concurrent use,
// and may be shared by several injectors. It keeps everything in memory
// until Reset.
type Recorder struct {
	mu       sync.Mutex
	attempts []Attempt
}

// Attempt is one call an [Injector] saw, with what happened to it.
type Attempt struct {
	// Start is when the call reached the injector; End when it left it
	// (for Transport, when RoundTrip returned, before the body was read).
	Start, End time.Time
	// Key is the call's key (see Call).
	Key string
	// Method and URL describe the HTTP request; both are empty for Do.
	Method, URL string
	// Faults lists the kinds of the faults injected into the call, in the
	// order applied; nil when the call went through untouched.
	Faults []Kind
	// Delay is the latency injected into the call.
	Delay time.Duration
	// Status is the HTTP status of the response returned (Transport) or
	// written (Handler); 0 when there was none.
	Status int
	// Err is the error the call returned: the injected one, the one of the
	// dependency, or the context's. For Handler calls it is the injected
	// Error answered for, or the context's error when the client went away
	// during a delay or a Hang; nil otherwise.
	Err error
	// Panicked is true when the call panicked: an injected Panic, a panic
	// of the dependency or handler, or a response aborted with
	// http.ErrAbortHandler. The panic went on to the caller.
	Panicked bool
}

// Injected reports whether a fault of kind k was injected into the call.
func (a Attempt) Injected(k Kind) bool {
	for _, f := range a.Faults {
		if f == k {
			return true
		}
	}
	return false
}

// String describes the attempt on one line, such as
//
//	GET http://api.test/orders: 503 [status]
//	call payments: connection refused [conn-refused]
func (a Attempt) String() string {
	var b strings.Builder
	if a.Method != "" || a.URL != "" {
		b.WriteString(a.Method + " " + a.URL)
	} else {
		b.WriteString("call")
		if a.Key != "" {
			b.WriteString(" " + a.Key)
		}
	}
	b.WriteString(": ")
	switch {
	case a.Panicked:
		b.WriteString("panic")
	case a.Err != nil:
		b.WriteString(a.Err.Error())
	case a.Status != 0:
		b.WriteString(strconv.Itoa(a.Status))
	default:
		b.WriteString("ok")
	}
	if len(a.Faults) > 0 {
		b.WriteString(" [")
		for n, k := range a.Faults {
			if n > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(k.String())
		}
		b.WriteByte(']')
	}
	return b.String()
}

// Attempts returns a copy of the attempts recorded so far, ordered by
// Start.
func (r *Recorder) Attempts() []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Attempt(nil), r.attempts...)
}

// Len returns how many attempts were recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.attempts)
}

// Gaps returns the time between the starts of consecutive attempts: for
// attempts at 0 s, 0.1 s and 0.3 s it returns [100ms 200ms]. It is what a
// test of a backoff asserts, in exact virtual time under testing/synctest.
func (r *Recorder) Gaps() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.attempts) < 2 {
		return nil
	}
	gaps := make([]time.Duration, len(r.attempts)-1)
	for n := 1; n < len(r.attempts); n++ {
		gaps[n-1] = r.attempts[n].Start.Sub(r.attempts[n-1].Start)
	}
	return gaps
}

// Reset forgets every attempt recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.attempts = nil
	r.mu.Unlock()
}

// add records a, keeping the attempts ordered by Start (calls that end out
// of order are inserted at their place).
func (r *Recorder) add(a Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.attempts)
	for n > 0 && r.attempts[n-1].Start.After(a.Start) {
		n--
	}
	r.attempts = append(r.attempts, Attempt{})
	copy(r.attempts[n+1:], r.attempts[n:])
	r.attempts[n] = a
}
