package resilience_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/resiliencekit/resilience"
)

type nop struct{}

func (nop) Do(ctx context.Context, op func(context.Context) error) error { return op(ctx) }

// BenchmarkChain measures what composition costs per call: n policies that
// do nothing but call op, chained. The allocs/op column is the point: it is
// 0 for every n.
func BenchmarkChain(b *testing.B) {
	op := func(context.Context) error { return nil }
	ctx := context.Background()
	for _, n := range []int{1, 2, 4, 8} {
		ps := make([]resilience.Policy, n)
		for i := range ps {
			ps[i] = nop{}
		}
		p := resilience.Chain(ps...)
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = p.Do(ctx, op)
			}
		})
		b.Run(fmt.Sprintf("policies=%d/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = p.Do(ctx, op)
				}
			})
		})
	}
}

func BenchmarkDo(b *testing.B) {
	p := resilience.Chain(nop{}, nop{})
	ctx := context.Background()
	op := func(context.Context) (int, error) { return 1, nil }
	b.ReportAllocs()
	for b.Loop() {
		_, _ = resilience.Do(ctx, p, op)
	}
}

// BenchmarkHandler is the cost Handler adds to a request: keying by
// client address, the context the policies see, the status writer.
func BenchmarkHandler(b *testing.B) {
	h := resilience.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), nop{})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "192.0.2.7:1234"
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
