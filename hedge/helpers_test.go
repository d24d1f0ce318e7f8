package hedge_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// errTransient is a failure worth another attempt.
var errTransient = errors.New("transient")

type attemptKey struct{}

// script is a fake dependency: attempt n (0 for the first of a call) takes
// the latency and returns the error its step says; it honours its context
// (returning context.Cause) unless the step ignores it. It records what
// each attempt saw.
type script struct {
	steps []step

	mu      sync.Mutex
	calls   int
	starts  []time.Duration // when each attempt started, since begin
	causes  []error         // each attempt's context cause when it returned (nil: live)
	begin   time.Time
	active  atomic.Int32
	maxSeen atomic.Int32
}

type step struct {
	latency time.Duration
	err     error
	ignore  bool // ignore the context: return only after latency
	panics  any  // panic with this value after latency
}

func newScript(steps ...step) *script { return &script{steps: steps, begin: time.Now()} }

// op is the operation for Do: it returns the attempt's number as its value.
func (s *script) op(ctx context.Context) (int, error) {
	s.mu.Lock()
	n := s.calls
	s.calls++
	s.starts = append(s.starts, time.Since(s.begin))
	s.causes = append(s.causes, nil)
	st := s.steps[min(n, len(s.steps)-1)]
	s.mu.Unlock()
	a := s.active.Add(1)
	for {
		m := s.maxSeen.Load()
		if a <= m || s.maxSeen.CompareAndSwap(m, a) {
			break
		}
	}
	defer s.active.Add(-1)
	defer func() {
		s.mu.Lock()
		s.causes[n] = context.Cause(ctx)
		s.mu.Unlock()
	}()
	t := time.NewTimer(st.latency)
	defer t.Stop()
	if st.ignore {
		<-t.C
	} else {
		select {
		case <-t.C:
		case <-ctx.Done():
			return n, context.Cause(ctx)
		}
	}
	if st.panics != nil {
		panic(st.panics)
	}
	return n, st.err
}

// plain is op as a func(ctx) error.
func (s *script) plain(ctx context.Context) error {
	_, err := s.op(ctx)
	return err
}

func (s *script) attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *script) startTimes() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.starts...)
}

func (s *script) causesSeen() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.causes...)
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }
