package outbox

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// fakeStore is an in-memory store with the semantics of the SQL one, on
// the clock of time.Now (virtual inside a synctest bubble).
type fakeStore struct {
	mu       sync.Mutex
	seq      int64
	rows     []*fakeRow
	dead     []outcome
	leases   map[string]fakeLease
	claimErr []error // returned by the next claims, in order
	ackErr   []error
	// ackWait makes every ack wait that long before it runs, or fail
	// with its context's error if that ends first: a database that makes
	// the writer wait for a lock (SQLite's busy timeout).
	ackWait  time.Duration
	acks     int // ack calls that recorded their outcomes
	renewErr error
	renewals int
	purges   int
	claims   int
}

type fakeRow struct {
	seq       int64
	msg       Message
	available time.Time
	expires   time.Time
	published bool
	pubAt     time.Time
}

type fakeLease struct {
	owner string
	until time.Time
}

func newFakeStore() *fakeStore { return &fakeStore{leases: map[string]fakeLease{}} }

func (s *fakeStore) add(msgs ...Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.seq++
		if m.ID == "" {
			m.ID = NewID()
		}
		m.CreatedAt = time.Now()
		s.rows = append(s.rows, &fakeRow{seq: s.seq, msg: m, available: m.AvailableAt, expires: m.ExpiresAt})
	}
}

func (s *fakeStore) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.rows {
		if !r.published {
			n++
		}
	}
	return n
}

func (s *fakeStore) stored() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rows)
}

func (s *fakeStore) heldKeys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.leases)
}

func (s *fakeStore) renewed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renewals
}

func (s *fakeStore) purged() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.purges
}

func (s *fakeStore) deadLetters() []outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dead)
}

func (s *fakeStore) claim(ctx context.Context, owner string, limit, maxBytes, window int, ttl time.Duration) ([]claimed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims++
	if len(s.claimErr) > 0 {
		err := s.claimErr[0]
		s.claimErr = s.claimErr[1:]
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	for k, l := range s.leases {
		if !l.until.After(now) {
			delete(s.leases, k)
		}
	}
	var win []*fakeRow
	for _, r := range s.rows {
		if r.published {
			continue
		}
		if l, ok := s.leases[r.msg.Key]; ok && l.until.After(now) && l.owner != owner {
			continue
		}
		if len(win) == window {
			break
		}
		win = append(win, r)
	}
	gate := map[string]time.Time{}
	var out []claimed
	var bytes int64
	for _, r := range win {
		if r.available.After(gate[r.msg.Key]) {
			gate[r.msg.Key] = r.available
		}
		if gate[r.msg.Key].After(now) {
			continue
		}
		size := int64(len(r.msg.Payload))
		for k, v := range r.msg.Headers {
			size += int64(len(k) + len(v))
		}
		if len(out) == limit || bytes >= int64(maxBytes) {
			break
		}
		bytes += size
		out = append(out, claimed{seq: r.seq, size: size, msg: r.msg, expired: !r.expires.IsZero() && !r.expires.After(now)})
	}
	for _, c := range out {
		s.leases[c.msg.Key] = fakeLease{owner: owner, until: now.Add(ttl)}
	}
	return out, nil
}

func (s *fakeStore) renew(ctx context.Context, owner string, ttl time.Duration) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.renewals++
	if s.renewErr != nil {
		return 0, s.renewErr
	}
	var n int64
	for k, l := range s.leases {
		if l.owner == owner {
			s.leases[k] = fakeLease{owner: owner, until: time.Now().Add(ttl)}
			n++
		}
	}
	return n, nil
}

func (s *fakeStore) releaseLocked(owner string) map[string]bool {
	held := map[string]bool{}
	for k, l := range s.leases {
		if l.owner == owner {
			held[k] = true
			delete(s.leases, k)
		}
	}
	return held
}

func (s *fakeStore) row(seq int64) *fakeRow {
	for _, r := range s.rows {
		if r.seq == seq {
			return r
		}
	}
	return nil
}

func (s *fakeStore) ack(ctx context.Context, owner string, out []outcome, retain bool) error {
	s.mu.Lock()
	wait := s.ackWait
	s.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ackErr) > 0 {
		err := s.ackErr[0]
		s.ackErr = s.ackErr[1:]
		return err
	}
	s.acks++
	held := s.releaseLocked(owner)
	now := time.Now()
	for i := range out {
		o := &out[i]
		if !held[o.key] {
			o.kind = lost
			continue
		}
		r := s.row(o.seq)
		if r == nil {
			continue
		}
		switch o.kind {
		case published:
			r.published, r.pubAt = true, now
		case dead:
			s.dead = append(s.dead, *o)
			r.published = true
		case failed:
			r.msg.Attempts = o.attempts
			r.available = now.Add(o.delay)
			if _, ok := s.leases[o.key]; !ok {
				s.leases[o.key] = fakeLease{until: now.Add(o.delay)}
			}
		}
	}
	if !retain {
		s.rows = slices.DeleteFunc(s.rows, func(r *fakeRow) bool { return r.published })
	}
	return nil
}

func (s *fakeStore) purge(ctx context.Context, retention time.Duration) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purges++
	n := len(s.rows)
	old := time.Now().Add(-retention)
	s.rows = slices.DeleteFunc(s.rows, func(r *fakeRow) bool { return r.published && !r.pubAt.After(old) })
	return int64(n - len(s.rows)), nil
}

var errDB = errors.New("connection refused")
