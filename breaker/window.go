package breaker

import (
	"sync"
	"sync/atomic"
	"time"
)

// window holds the counts behind the rate rules: a count window or a time
// window, by the mode of the breaker.
type window struct {
	count countWindow
	time  timeWindow
}

func (w *window) init(b *Breaker) {
	switch c := &b.cfg; c.mode {
	case modeCount:
		w.count.init(c.windowCalls, c.slowCall > 0)
	case modeTime:
		w.time.init(b, c.buckets, c.bucketWidth)
	}
}

// reset empties the window when the breaker closes.
func (w *window) reset(b *Breaker) {
	switch b.cfg.mode {
	case modeCount:
		w.count.reset(b.calls.sum(0))
	case modeTime:
		w.time.reset()
	}
}

// snapshot returns the calls, failures and slow calls in the window now.
func (w *window) snapshot(b *Breaker) (calls, fails, slows int) {
	switch b.cfg.mode {
	case modeCount:
		return w.count.snapshot(b)
	case modeTime:
		return w.time.snapshot(b.now() / w.time.width)
	}
	return 0, 0, 0
}

// judge reports whether the counts of a window meet a rate rule. A window
// with failures or slow calls but fewer than MinCalls calls is marked
// pending, so that the successes that bring it to MinCalls judge it again.
func (b *Breaker) judge(calls, fails, slows int) bool {
	c := &b.cfg
	if calls < c.minCalls {
		if fails > 0 || slows > 0 {
			b.pending.Store(true)
		}
		return false
	}
	if b.pending.Load() {
		b.pending.Store(false)
	}
	n := float64(calls)
	// Dividing rounds fails/calls to the double nearest to it, as the
	// literal rate is, so an exact match compares equal.
	return float64(fails)/n >= c.failureRate ||
		c.slowRate > 0 && float64(slows)/n >= c.slowRate
}

// countWindow is a window over the last n calls. Calls are numbered by the
// breaker's striped call counter (b.calls), which successes bump without
// touching the window at all. A failure (or slow call) appends the current
// call number to a log; the window's failures are the log entries newer
// than n calls ago. Entries only leave from the old end, so keeping the
// count is cheap however large the window.
type countWindow struct {
	n     int64
	mu    sync.Mutex
	base  int64   // call number when the window was last emptied
	fails callLog // call numbers of failures
	slows callLog // call numbers of slow calls, when SlowCall is set
}

// callLog is a ring of call numbers, oldest at tail. Guarded by
// countWindow.mu.
type callLog struct {
	ring       []int64
	head, tail int
}

func (w *countWindow) init(n int, slow bool) {
	w.n = int64(n)
	size := 64
	for size < n+64 { // room for the window plus concurrent stragglers
		size <<= 1
	}
	w.fails.ring = make([]int64, size)
	if slow {
		w.slows.ring = make([]int64, size)
	}
}

func (l *callLog) push(call int64) {
	l.ring[l.head&(len(l.ring)-1)] = call
	l.head++
	if l.head-l.tail > len(l.ring) {
		l.tail = l.head - len(l.ring)
	}
}

// count drops the entries not newer than oldest and returns how many are
// left.
func (l *callLog) count(oldest int64) int {
	if l.ring == nil {
		return 0
	}
	for l.tail < l.head && l.ring[l.tail&(len(l.ring)-1)] <= oldest {
		l.tail++
	}
	return l.head - l.tail
}

// record logs a failed or slow call (already counted in b.calls) and
// reports whether the window now trips.
func (w *countWindow) record(b *Breaker, fail, slow bool) bool {
	w.mu.Lock()
	call := b.calls.sum(0)
	if fail {
		w.fails.push(call)
	}
	if slow {
		w.slows.push(call)
	}
	calls, fails, slows := w.countLocked(call)
	w.mu.Unlock()
	return b.judge(calls, fails, slows)
}

// countLocked counts the window that ends with call number last.
func (w *countWindow) countLocked(last int64) (calls, fails, slows int) {
	n := min(last-w.base, w.n)
	if n <= 0 {
		return 0, 0, 0
	}
	oldest := last - n
	return int(n), w.fails.count(oldest), w.slows.count(oldest)
}

func (w *countWindow) snapshot(b *Breaker) (calls, fails, slows int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.countLocked(b.calls.sum(0))
}

// reset empties the window; calls is the current call number.
func (w *countWindow) reset(calls int64) {
	w.mu.Lock()
	w.base = calls
	w.fails.tail = w.fails.head
	w.slows.tail = w.slows.head
	w.mu.Unlock()
}

// timeWindow keeps the calls of the last buckets×width nanoseconds in a
// ring of buckets: bucket k (now/width) lives in slot k mod buckets, and
// the slot is emptied when a newer bucket takes it over. Calls are counted
// in striped counters (one per bucket in each stripe), failures and slow
// calls in plain ones, since only they are off the success path.
//
// A success does not read the clock: it counts in the slot of the newest
// bucket, which a timer moves along at each bucket boundary. The timer runs
// only while calls come in; after a bucket with no calls it stops, and the
// next call reads the clock and starts it again. Failures, slow calls and
// Metrics read the clock and see the exact window.
type timeWindow struct {
	b       *Breaker
	width   int64
	epochs  []atomic.Int64 // bucket number held by each slot, -1 when empty
	calls   stripes
	fails   []atomic.Int64
	slows   []atomic.Int64
	retired atomic.Int64 // calls of the buckets emptied so far, for Metrics
	slot    atomic.Int64 // slot of the newest bucket: where successes count
	ticking atomic.Bool  // the timer keeps slot current

	mu     sync.Mutex // serializes emptying buckets; guards the fields below
	newest int64      // bucket number in slot
	timer  *time.Timer
	seen   int64 // calls counted at the last tick
}

func (w *timeWindow) init(b *Breaker, n int, width int64) {
	w.b, w.width = b, width
	w.epochs = make([]atomic.Int64, n)
	for i := range w.epochs {
		w.epochs[i].Store(-1)
	}
	w.calls.init(n)
	w.fails = make([]atomic.Int64, n)
	w.slows = make([]atomic.Int64, n)
	w.newest = -1
}

// hit counts a success without reading the clock.
func (w *timeWindow) hit() {
	if !w.ticking.Load() {
		w.start()
	}
	w.calls.add(int(w.slot.Load()))
}

// add records a call that ended at now and reports whether the window
// trips.
func (w *timeWindow) add(now int64, fail, slow bool) bool {
	if !w.ticking.Load() {
		w.start()
	}
	k := now / w.width
	i := int(k % int64(len(w.epochs)))
	if w.epochs[i].Load() != k {
		w.mu.Lock()
		w.advance(k)
		w.mu.Unlock()
	}
	w.calls.add(i)
	if fail {
		w.fails[i].Add(1)
	}
	if slow {
		w.slows[i].Add(1)
	}
	if !fail && !slow && !w.b.pending.Load() {
		return false
	}
	return w.b.judge(w.snapshot(k))
}

// advance makes bucket k take its slot (emptying an older bucket there)
// and, if it is the newest bucket, the slot of successes. w.mu is held.
func (w *timeWindow) advance(k int64) {
	i := int(k % int64(len(w.epochs)))
	if w.epochs[i].Load() < k {
		w.retired.Add(w.calls.take(i))
		w.fails[i].Store(0)
		w.slows[i].Store(0)
		w.epochs[i].Store(k)
	}
	if k > w.newest {
		w.newest = k
		w.slot.Store(int64(i))
	}
}

// start reads the clock, brings the window up to date and starts the
// timer.
func (w *timeWindow) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ticking.Load() {
		return
	}
	w.ticking.Store(true)
	w.seen = w.total()
	w.schedule()
}

// tick runs at each bucket boundary while calls come in.
func (w *timeWindow) tick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if total := w.total(); total != w.seen {
		w.seen = total
		w.schedule()
		return
	}
	// A bucket without calls: stop until the next call. Bring the slot up
	// to date first, so a success that raced with this tick counts in a
	// current bucket.
	w.advance(w.b.now() / w.width)
	w.ticking.Store(false)
}

// schedule advances to the current bucket and sets the timer for the next
// boundary. w.mu is held.
func (w *timeWindow) schedule() {
	now := w.b.now()
	k := now / w.width
	w.advance(k)
	// Successes leaving the window can raise its rates: have the next
	// call judge it when it holds failures or slow calls.
	if _, fails, slows := w.snapshot(k); fails > 0 || slows > 0 {
		w.b.pending.Store(true)
	}
	next := time.Duration((k+1)*w.width - now)
	if w.timer == nil {
		w.timer = time.AfterFunc(next, w.tick)
	} else {
		w.timer.Reset(next)
	}
}

// snapshot sums the buckets of the window that ends with bucket k.
func (w *timeWindow) snapshot(k int64) (calls, fails, slows int) {
	oldest := k - int64(len(w.epochs))
	for i := range w.epochs {
		if e := w.epochs[i].Load(); e > oldest && e <= k {
			calls += int(w.calls.sum(i))
			fails += int(w.fails[i].Load())
			slows += int(w.slows[i].Load())
		}
	}
	return calls, fails, slows
}

// total returns every call counted so far, in the window or retired.
func (w *timeWindow) total() int64 {
	n := w.retired.Load()
	for i := range w.epochs {
		n += w.calls.sum(i)
	}
	return n
}

func (w *timeWindow) reset() {
	w.mu.Lock()
	for i := range w.epochs {
		w.retired.Add(w.calls.take(i))
		w.fails[i].Store(0)
		w.slows[i].Store(0)
		w.epochs[i].Store(-1)
	}
	w.newest = -1
	w.advance(w.b.now() / w.width)
	w.mu.Unlock()
}
