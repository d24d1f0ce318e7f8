package outboxtest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resiliencekit/resilience/outbox"
)

// Recorder is a Publisher that records what it published and checks, as it
// goes, that no two calls publish messages of one key at the same time. A
// hook can fail or slow down messages. It is safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex
	got      []outbox.Message
	inflight map[string]int
	overlaps []string
	hook     func(ctx context.Context, m outbox.Message) error
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{inflight: make(map[string]int)} }

// SetHook makes Publish call hook before accepting each message: an error
// fails the message; the hook may also sleep or block. Nil accepts all.
func (r *Recorder) SetHook(hook func(ctx context.Context, m outbox.Message) error) {
	r.mu.Lock()
	r.hook = hook
	r.mu.Unlock()
}

// Publish implements outbox.Publisher.
func (r *Recorder) Publish(ctx context.Context, msgs []outbox.Message, errs []error) {
	keys := map[string]bool{}
	r.mu.Lock()
	hook := r.hook
	for _, m := range msgs {
		if !keys[m.Key] {
			keys[m.Key] = true
			if r.inflight[m.Key] > 0 {
				r.overlaps = append(r.overlaps, m.Key)
			}
			r.inflight[m.Key]++
		}
	}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		for k := range keys {
			r.inflight[k]--
		}
		r.mu.Unlock()
	}()
	outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
		if hook != nil {
			if err := hook(ctx, m); err != nil {
				return err
			}
		}
		r.mu.Lock()
		r.got = append(r.got, m)
		r.mu.Unlock()
		return nil
	}).Publish(ctx, msgs, errs)
}

// Messages returns what was published, in order.
func (r *Recorder) Messages() []outbox.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]outbox.Message(nil), r.got...)
}

// Len returns how many messages were published.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// Overlaps returns the keys that two calls published at the same time.
func (r *Recorder) Overlaps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.overlaps...)
}

// WaitLen waits up to d for at least n messages.
func (r *Recorder) WaitLen(t testing.TB, n int, d time.Duration) {
	t.Helper()
	eventually(t, d, func() bool { return r.Len() >= n }, "%d messages published, want %d", r.Len(), n)
}

// WaitAll waits up to d until every message of want (see CheckOrder) was
// published at least once, and returns the report on what was published.
// Unlike WaitLen it is not fooled by duplicates.
func (r *Recorder) WaitAll(t testing.TB, want map[string]int, d time.Duration) OrderReport {
	t.Helper()
	var rep OrderReport
	eventually(t, d, func() bool {
		ms := r.Messages()
		ps := make([]string, len(ms))
		for i, m := range ms {
			ps[i] = string(m.Payload)
		}
		rep = CheckOrder(ps, want)
		return len(rep.Missing) == 0
	}, "messages still missing")
	return rep
}

// OrderReport is what CheckOrder found.
type OrderReport struct {
	Unique     int      // distinct messages received
	Duplicates int      // repeated receptions
	Missing    []string // "key/i" never received
	Reordered  []string // "key/i" received first before an earlier one of its key
	Unknown    []string // payloads that are not key/i
}

// CheckOrder checks payloads of the form "key/i" (as sent by the tests,
// i counting from 0 within each key): every key/i for i < want[key] arrived,
// and, ignoring repeats, each key's messages arrived in order.
func CheckOrder(payloads []string, want map[string]int) OrderReport {
	var rep OrderReport
	next := map[string]int{}
	seen := map[string]bool{}
	for _, p := range payloads {
		i := strings.LastIndexByte(p, '/')
		n, err := strconv.Atoi(p[i+1:])
		if i < 0 || err != nil {
			rep.Unknown = append(rep.Unknown, p)
			continue
		}
		key := p[:i]
		if seen[p] {
			rep.Duplicates++
			continue
		}
		seen[p] = true
		rep.Unique++
		if n != next[key] {
			rep.Reordered = append(rep.Reordered, fmt.Sprintf("%s (expected %s/%d)", p, key, next[key]))
		}
		next[key] = max(next[key], n+1)
	}
	for key, n := range want {
		for i := range n {
			if p := fmt.Sprintf("%s/%d", key, i); !seen[p] {
				rep.Missing = append(rep.Missing, p)
			}
		}
	}
	return rep
}
