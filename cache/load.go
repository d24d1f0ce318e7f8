package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// call is one load of one key, shared by every Get that waits for it.
type call[V any] struct {
	done       chan struct{}
	cancel     context.CancelFunc
	background bool      // a refresh: no caller started it, none may cancel it
	trigger    *entry[V] // the entry whose refresh this is, if any
	reported   atomic.Int64

	// Guarded by the shard's mutex.
	waiters   int
	noStore   bool // Set, Delete or Purge came after the load started
	abandoned bool // cancelled because its last waiter left
	closing   bool // cancelled by Close
	finished  bool

	// Written before done is closed.
	val      V
	err      error
	loadedAt int64
}

// loadKey is the context key under which a load finds its call.
type loadKey struct{}

type reporter interface{ report(unixNano int64) }

func (cl *call[V]) report(t int64) { cl.reported.Store(t) }

// ReportLoadedAt tells the cache that the value the running loader is about
// to return was loaded from the source at t, earlier than now: for example a
// copy taken from a cache level shared with other processes (see [Tiered]).
// The value's freshness windows then count from t, so copying it from cache
// to cache does not make it younger. ctx must be the context the cache
// passed to the loader (or one derived from it); elsewhere ReportLoadedAt
// does nothing. A t in the future counts as now.
func ReportLoadedAt(ctx context.Context, t time.Time) {
	if r, ok := ctx.Value(loadKey{}).(reporter); ok && !t.IsZero() {
		r.report(t.UnixNano())
	}
}

// wait joins the load of key in flight, or starts one, and waits for it. It
// returns the finished call, or the fresh entry that a load stored between
// the caller's look at the store and its taking the shard's lock, or
// ErrClosed, or ctx's error when ctx ends first.
func (c *Cache[K, V]) wait(ctx context.Context, key K) (*call[V], *entry[V], error) {
	sh := c.shard(key)
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		sh.mu.Lock()
		cl := sh.flights[key]
		if cl != nil && cl.abandoned {
			// Its loader has been told to stop but has not returned yet:
			// wait for it, so that the source sees one load at a time.
			sh.mu.Unlock()
			select {
			case <-cl.done:
				continue
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		if cl == nil {
			// A load finishes under this lock: it may have stored a value
			// since the caller looked.
			if e, ok := c.store.GetIfPresent(key); ok && c.now() < e.freshUntil {
				sh.mu.Unlock()
				return nil, e, nil
			}
			cl = c.start(sh, ctx, key, false, nil)
			if cl == nil {
				sh.mu.Unlock()
				return nil, nil, ErrClosed
			}
		}
		cl.waiters++
		sh.mu.Unlock()
		select {
		case <-cl.done:
			return cl, nil, nil
		case <-ctx.Done():
			c.leave(sh, cl)
			return nil, nil, ctx.Err()
		}
	}
}

// leave takes a waiter whose context ended off cl, and cancels the load when
// it was the last one.
func (c *Cache[K, V]) leave(sh *shard[K, V], cl *call[V]) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cl.waiters--
	if cl.waiters == 0 && !cl.background && !cl.finished {
		cl.abandoned = true
		cl.cancel()
	}
}

// refresh starts a background load of key, unless one is in flight, for
// the entry e that a Get found due for it.
func (c *Cache[K, V]) refresh(ctx context.Context, key K, e *entry[V]) {
	if !e.refreshing.CompareAndSwap(false, true) {
		return // this entry's refresh is in flight
	}
	sh := c.shard(key)
	sh.mu.Lock()
	cur, _ := c.store.GetIfPresent(key)
	// cur != e: a load has replaced e (or Delete removed it) since the
	// caller read it; nothing is left to refresh.
	started := cur == e && sh.flights[key] == nil && c.start(sh, ctx, key, true, e) != nil
	sh.mu.Unlock()
	if !started {
		e.refreshing.Store(false)
	}
}

// start starts a load of key, with a context detached from parent, and
// registers it in sh, whose mutex the caller holds. It returns nil after
// Close.
func (c *Cache[K, V]) start(sh *shard[K, V], parent context.Context, key K, background bool, trigger *entry[V]) *call[V] {
	if !c.track() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), c.s.loadTimeout)
	cl := &call[V]{
		done:       make(chan struct{}),
		cancel:     cancel,
		background: background,
		trigger:    trigger,
	}
	sh.flights[key] = cl
	c.loads.Add(1)
	c.inFlight.Add(1)
	go c.run(context.WithValue(ctx, loadKey{}, cl), sh, key, cl)
	return cl
}

// errGoexit is the panic value reported for a loader that called
// runtime.Goexit.
var errGoexit = errors.New("cache: loader called runtime.Goexit")

// run calls the loader for cl, stores the result and wakes the waiters. A
// panic in the loader (or a runtime.Goexit) is recovered here: the waiters
// get a *PanicError and Config.OnPanic is called with it.
func (c *Cache[K, V]) run(ctx context.Context, sh *shard[K, V], key K, cl *call[V]) {
	var (
		v        V
		err      error
		returned bool
	)
	defer func() {
		var pe *PanicError
		if !returned {
			r := recover()
			if r == nil {
				r = errGoexit
			}
			pe = &PanicError{Key: key, Value: r, Stack: debug.Stack()}
			err = pe
		}
		c.finish(sh, key, cl, v, err)
		c.bg.Done()
		if pe != nil {
			c.s.onPanic(pe)
		}
	}()
	v, err = c.load(ctx, key)
	returned = true
}

// finish stores the result of cl (unless something made it moot) and wakes
// its waiters.
func (c *Cache[K, V]) finish(sh *shard[K, V], key K, cl *call[V], v V, err error) {
	cl.cancel()
	now := c.now()
	loadedAt := now
	if t := cl.reported.Load(); t != 0 && t < now {
		loadedAt = t
	}
	notFound := err != nil && errors.Is(err, ErrNotFound)
	var e *entry[V]
	switch {
	case err == nil:
		e = positive(&c.s, v, loadedAt)
	case notFound && c.s.negativeTTL > 0:
		e = negative[V](&c.s, err, loadedAt)
	}

	sh.mu.Lock()
	if sh.flights[key] == cl {
		delete(sh.flights, key)
	}
	stored := false
	if !cl.noStore && !cl.abandoned {
		switch {
		case e != nil:
			c.store.Set(key, e)
			stored = true
		case notFound:
			c.store.Invalidate(key) // the source says it is gone
		}
	}
	if err != nil && cl.closing && !notFound {
		err = fmt.Errorf("%w (load stopped: %w)", ErrClosed, err)
	}
	cl.val, cl.err, cl.loadedAt = v, err, loadedAt
	cl.finished = true
	sh.mu.Unlock()

	if cl.trigger != nil && !stored {
		cl.trigger.refreshing.Store(false) // the entry stays: it may be refreshed again
	}
	// Count before waking the waiters, so that they see the metrics of
	// their own load.
	c.inFlight.Add(-1)
	if err != nil && !notFound {
		c.loadErrors.Add(1)
	}
	close(cl.done)
}
