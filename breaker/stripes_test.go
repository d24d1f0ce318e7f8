package breaker

import (
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestStripes(t *testing.T) {
	t.Parallel()
	for _, perP := range []bool{false, true} {
		var s stripes
		s.init(3)
		s.perP.Store(perP)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 3000 {
					s.add((g + i) % 3)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int64(8*3000), s.sum(0)+s.sum(1)+s.sum(2))
		require.Equal(t, int64(8000), s.sum(1))
		require.Equal(t, int64(8000), s.take(1))
		require.Zero(t, s.sum(1))
		require.Equal(t, int64(8000), s.sum(2))
	}
}

func TestStripesAligned(t *testing.T) {
	t.Parallel()
	for _, width := range []int{1, 7, 10, 33} {
		var s stripes
		s.init(width)
		require.Zero(t, s.stride%(cacheLine/8))
		require.Zero(t, uintptr(unsafe.Pointer(&s.c[0]))%cacheLine)
		require.GreaterOrEqual(t, s.stride, width)
		require.Zero(t, s.stripe()%s.stride)
		require.Less(t, s.stripe(), len(s.c))
	}
}

// Contention first reshuffles the stripes, then picks them per P.
func TestStripesContention(t *testing.T) {
	t.Parallel()
	var s stripes
	s.init(1)
	for n := 1; n <= maxShakes; n++ {
		s.addContended(0)
		require.Equal(t, int32(n), s.shakes.Load())
		require.NotEqual(t, uint64(golden), s.mult.Load())
		require.Equal(t, uint64(1), s.mult.Load()&1)
		require.False(t, s.perP.Load())
	}
	s.addContended(0)
	require.True(t, s.perP.Load())
	s.add(0)
	s.add(0)
	require.Equal(t, int64(maxShakes+3), s.sum(0))
}

// BenchmarkCounter compares the striped counter of the success path with
// the simple version it must beat to keep its place: one atomic counter.
// bench/README.md ("Clever code, measured") records the figures of the
// whole Do with each.
func BenchmarkCounter(b *testing.B) {
	var s stripes
	s.init(1)
	var one atomic.Int64
	b.Run("striped", func(b *testing.B) {
		for b.Loop() {
			s.add(0)
		}
	})
	b.Run("striped/parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.add(0)
			}
		})
	})
	b.Run("atomic", func(b *testing.B) {
		for b.Loop() {
			one.Add(1)
		}
	})
	b.Run("atomic/parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				one.Add(1)
			}
		})
	})
}
