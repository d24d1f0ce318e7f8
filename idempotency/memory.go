package idempotency

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"
)

// The defaults of MemoryConfig.
const (
	// DefaultMemoryMaxKeys is how many records a MemoryStore holds.
	DefaultMemoryMaxKeys = 1 << 16
	// DefaultMemoryMaxBytes is how many bytes of keys, fingerprints and
	// outcomes a MemoryStore holds.
	DefaultMemoryMaxBytes = 64 << 20
)

// recordOverhead is what a record is counted for beside its strings: the
// map entry, the heap slot and the entry itself.
const recordOverhead = 128

// MemoryConfig holds the optional settings of NewMemoryStore. The zero
// value is fine.
type MemoryConfig struct {
	// MaxKeys is how many records the store holds, live or not yet
	// reclaimed. Zero means DefaultMemoryMaxKeys.
	MaxKeys int
	// MaxBytes is how many bytes the records may take: their keys, tokens,
	// fingerprints and outcomes, plus 128 bytes each. Zero means
	// DefaultMemoryMaxBytes.
	MaxBytes int64
	// MaxOutcomeBytes is the largest outcome the store keeps; Complete
	// refuses a larger one with ErrTooLarge. Zero means
	// DefaultMaxOutcomeBytes.
	MaxOutcomeBytes int
}

// MemoryStore is a Store in the memory of one process: for tests, and for a
// service of one instance that accepts losing its records when it restarts
// (a retry after a restart executes again). Create it with NewMemoryStore;
// it is safe for concurrent use.
//
// It is bounded by MemoryConfig.MaxKeys and MaxBytes. Records whose Expires
// has passed are dropped, earliest first, when room is needed; when every
// record is live, Acquire returns ErrStoreFull and Complete ErrTooLarge.
// It has no goroutine.
type MemoryStore struct {
	maxKeys  int
	maxBytes int64
	maxOut   int

	mu    sync.Mutex
	byKey map[string]*memEntry
	order expiryHeap // every entry, earliest Expires first
	bytes int64
}

type memEntry struct {
	r     Record
	index int // in order
}

// NewMemoryStore returns an empty MemoryStore. It panics with an
// "idempotency: ..." message when a bound is negative.
func NewMemoryStore(c MemoryConfig) *MemoryStore {
	if c.MaxKeys < 0 || c.MaxBytes < 0 || c.MaxOutcomeBytes < 0 {
		panic(fmt.Sprintf("idempotency: negative MemoryConfig bound (MaxKeys %d, MaxBytes %d, MaxOutcomeBytes %d)", c.MaxKeys, c.MaxBytes, c.MaxOutcomeBytes))
	}
	if c.MaxOutcomeBytes == 0 {
		c.MaxOutcomeBytes = DefaultMaxOutcomeBytes
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMemoryMaxKeys
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMemoryMaxBytes
	}
	return &MemoryStore{maxKeys: c.MaxKeys, maxBytes: c.MaxBytes, maxOut: c.MaxOutcomeBytes, byKey: make(map[string]*memEntry)}
}

func size(r *Record) int64 {
	return int64(len(r.Key)+len(r.Token)+len(r.Fingerprint)+len(r.Outcome)) + recordOverhead
}

// Acquire implements Store.
func (s *MemoryStore) Acquire(ctx context.Context, r Record, now time.Time) (Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, false, err
	}
	if err := checkRecord(&r); err != nil {
		return Record{}, false, err
	}
	r.Done, r.Outcome = false, nil
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byKey[r.Key]; ok {
		if e.r.Expires.After(now) {
			return clone(e.r), false, nil
		}
		s.remove(e)
	}
	n := size(&r)
	if !s.makeRoom(1, n, now) {
		return Record{}, false, ErrStoreFull
	}
	e := &memEntry{r: r}
	s.byKey[r.Key] = e
	heap.Push(&s.order, e)
	s.bytes += n
	return Record{}, true, nil
}

// Complete implements Store.
func (s *MemoryStore) Complete(ctx context.Context, r Record, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkRecord(&r); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byKey[r.Key]
	if !ok || e.r.Done || e.r.Token != r.Token {
		return ErrLeaseLost
	}
	if len(r.Outcome) > s.maxOut {
		return ErrTooLarge
	}
	grow := size(&r) - size(&e.r)
	if grow > 0 && !s.makeRoom(0, grow, now) {
		return ErrTooLarge
	}
	s.bytes += grow
	r.Done = true
	r.Outcome = append([]byte(nil), r.Outcome...)
	e.r = r
	heap.Fix(&s.order, e.index)
	return nil
}

// Extend implements Store.
func (s *MemoryStore) Extend(ctx context.Context, key, token string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byKey[key]
	if !ok || e.r.Done || e.r.Token != token {
		return ErrLeaseLost
	}
	e.r.Expires = until
	heap.Fix(&s.order, e.index)
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(ctx context.Context, key, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byKey[key]
	if !ok || e.r.Done || e.r.Token != token {
		return ErrLeaseLost
	}
	s.remove(e)
	return nil
}

// Len returns how many records the store holds, including those expired
// but not yet dropped.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byKey)
}

// Bytes returns how many bytes the records take, as MemoryConfig.MaxBytes
// counts them.
func (s *MemoryStore) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// makeRoom drops expired records, earliest first, until keys more records
// and n more bytes fit, and reports whether they do. s.mu is held.
func (s *MemoryStore) makeRoom(keys int, n int64, now time.Time) bool {
	for len(s.byKey)+keys > s.maxKeys || s.bytes+n > s.maxBytes {
		if len(s.order) == 0 || s.order[0].r.Expires.After(now) {
			return false
		}
		s.remove(s.order[0])
	}
	return true
}

func (s *MemoryStore) remove(e *memEntry) {
	heap.Remove(&s.order, e.index)
	delete(s.byKey, e.r.Key)
	s.bytes -= size(&e.r)
}

func clone(r Record) Record {
	r.Outcome = append([]byte(nil), r.Outcome...)
	return r
}

// checkRecord refuses a record beyond the bounds every store accepts.
func checkRecord(r *Record) error {
	switch {
	case r.Key == "" || len(r.Key) > MaxStoreKeyBytes:
		return fmt.Errorf("%w: key of %d bytes (want 1 to %d)", ErrInvalidRecord, len(r.Key), MaxStoreKeyBytes)
	case r.Token == "" || len(r.Token) > MaxTokenBytes:
		return fmt.Errorf("%w: token of %d bytes (want 1 to %d)", ErrInvalidRecord, len(r.Token), MaxTokenBytes)
	case len(r.Fingerprint) > MaxFingerprintSize:
		return fmt.Errorf("%w: fingerprint of %d bytes (want at most %d)", ErrInvalidRecord, len(r.Fingerprint), MaxFingerprintSize)
	}
	return nil
}

// expiryHeap orders entries by Expires, earliest first.
type expiryHeap []*memEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].r.Expires.Before(h[j].r.Expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*memEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
