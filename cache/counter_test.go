package cache

import (
	"sync/atomic"
	"testing"
)

// atomicCounter is the simple version of counter: one atomic, alone on its
// cache line. BenchmarkCounter measures the two side by side, serial and
// parallel; the striped counter is kept because it wins clearly in
// parallel (bench/README.md, "Clever code, measured").
type atomicCounter struct {
	_ [64]byte
	n atomic.Uint64
	_ [56]byte
}

func (c *atomicCounter) inc()         { c.n.Add(1) }
func (c *atomicCounter) load() uint64 { return c.n.Load() }

func BenchmarkCounter(b *testing.B) {
	b.Run("striped/serial", func(b *testing.B) {
		c := newCounter()
		for b.Loop() {
			c.inc()
		}
	})
	b.Run("atomic/serial", func(b *testing.B) {
		c := new(atomicCounter)
		for b.Loop() {
			c.inc()
		}
	})
	b.Run("striped/parallel", func(b *testing.B) {
		c := newCounter()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.inc()
			}
		})
	})
	b.Run("atomic/parallel", func(b *testing.B) {
		c := new(atomicCounter)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.inc()
			}
		})
	})
}

func TestCountersCount(t *testing.T) {
	t.Parallel()
	s, a := newCounter(), new(atomicCounter)
	for range 1000 {
		s.inc()
		a.inc()
	}
	if s.load() != 1000 || a.load() != 1000 {
		t.Fatalf("striped %d, atomic %d, want 1000", s.load(), a.load())
	}
}
