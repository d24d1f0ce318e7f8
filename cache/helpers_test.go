package cache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// source is a fake data source for the loaders of the tests: a map of values
// and errors, with a count of the loads it served.
type source struct {
	mu    sync.Mutex
	vals  map[string]int
	errs  map[string]error
	loads atomic.Int64
}

func newSource(kv ...any) *source {
	s := &source{vals: map[string]int{}, errs: map[string]error{}}
	for i := 0; i < len(kv); i += 2 {
		s.vals[kv[i].(string)] = kv[i+1].(int)
	}
	return s
}

func (s *source) set(k string, v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals[k] = v
	delete(s.errs, k)
}

func (s *source) fail(k string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs[k] = err
}

func (s *source) load(_ context.Context, k string) (int, error) {
	s.loads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.errs[k]; err != nil {
		return 0, err
	}
	return s.vals[k], nil
}

var errDown = errors.New("source down")
