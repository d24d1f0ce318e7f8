package breaker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
)

// health runs Config.HealthCheck in a goroutine of the breaker while it is
// open. The goroutine starts when the breaker opens and ends when it
// closes (or is reset, forced open, disabled) or when Close is called.
type health struct {
	b       *Breaker
	ctx     context.Context // cancelled by Close; carries the Group key
	cancel  context.CancelFunc
	poke    chan struct{} // wakes a waiting goroutine after a change of state
	wg      sync.WaitGroup
	running bool // guarded by b.mu
	closed  atomic.Bool
	once    sync.Once
}

func newHealth(b *Breaker, key string, keyed bool) *health {
	h := &health{b: b, poke: make(chan struct{}, 1)}
	ctx := context.Background()
	if keyed {
		ctx = resilience.WithKey(ctx, key)
	}
	h.ctx, h.cancel = context.WithCancel(ctx)
	return h
}

// healthActive reports whether the health check, rather than user calls,
// probes the dependency.
func (b *Breaker) healthActive() bool {
	return b.health != nil && !b.health.closed.Load()
}

// start runs the goroutine unless it runs already. b.mu is held.
func (h *health) start() {
	if h.running || h.closed.Load() {
		h.wake()
		return
	}
	h.running = true
	h.wg.Add(1)
	go h.loop()
}

// wake makes a waiting goroutine look at the state again.
func (h *health) wake() {
	select {
	case h.poke <- struct{}{}:
	default:
	}
}

func (h *health) loop() {
	defer h.wg.Done()
	b := h.b
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		b.mu.Lock()
		s := b.word.Load()
		if State(s&stateMask) != Open || h.ctx.Err() != nil {
			h.running = false
			b.mu.Unlock()
			return
		}
		wait := b.opened.Load().until - b.now()
		if wait <= 0 {
			b.setLocked(h.ctx, HalfOpen, nil)
			s = b.word.Load()
			b.mu.Unlock()
			b.dispatch()
			h.check(s)
			continue
		}
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(time.Duration(wait))
		} else {
			timer.Reset(time.Duration(wait))
		}
		select {
		case <-timer.C:
		case <-h.poke:
			timer.Stop()
		case <-h.ctx.Done():
		}
	}
}

// check runs health checks for the half-open generation s until the
// breaker closes, opens again, or changes for another reason.
func (h *health) check(s uint64) {
	b := h.b
	for ok := 0; ; {
		ctx, cancel := context.WithTimeout(h.ctx, b.cfg.healthTimeout)
		err := b.cfg.healthCheck(ctx)
		cancel()
		if h.ctx.Err() != nil {
			return // Close: the result says nothing about the dependency
		}
		b.mu.Lock()
		if b.word.Load() != s {
			b.mu.Unlock()
			return
		}
		done := true
		switch {
		case err != nil:
			b.setLocked(h.ctx, Open, err)
		case ok+1 >= b.cfg.successes:
			b.setLocked(h.ctx, Closed, nil)
		default:
			ok++
			done = false
		}
		b.mu.Unlock()
		b.dispatch()
		if done {
			return
		}
	}
}

// Close stops the health-check goroutine, if any, and waits until it has
// returned. Afterwards the breaker keeps working, but probes with user
// calls as if it had no health check. Close is idempotent and does nothing
// for a breaker without a health check. Do not call it from OnStateChange
// or from the health check itself, since it waits for that goroutine.
func (b *Breaker) Close() {
	h := b.health
	if h == nil {
		return
	}
	h.once.Do(func() {
		// Under b.mu, so that start either sees closed or has added to
		// the WaitGroup before Wait.
		b.mu.Lock()
		h.closed.Store(true)
		b.mu.Unlock()
		h.cancel()
	})
	h.wg.Wait()
}
