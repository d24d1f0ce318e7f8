package idempotency_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/resiliencekit/resilience/idempotency"
)

// BenchmarkHandler measures what Handler adds to a request, with the
// MemoryStore: a first request with its key (acquire, execute, store) and
// a repeat (replay), beside the bare handler.
func BenchmarkHandler(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"o-1","status":"created"}`))
	})
	body := `{"customer":"alice","total_cents":4200}`
	run := func(b *testing.B, h http.Handler, key func(i int) string) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
			if k := key(i); k != "" {
				r.Header.Set("Idempotency-Key", k)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				b.Fatal(w.Code)
			}
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, next, func(int) string { return "" }) })
	b.Run("memory/first", func(b *testing.B) {
		st := idempotency.NewMemoryStore(idempotency.MemoryConfig{MaxKeys: 1 << 24, MaxBytes: 1 << 34})
		run(b, idempotency.New(st, idempotency.Config{}).Handler(next), func(i int) string { return "k" + strconv.Itoa(i) })
	})
	b.Run("memory/replay", func(b *testing.B) {
		st := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
		run(b, idempotency.New(st, idempotency.Config{}).Handler(next), func(int) string { return "k" })
	})
}
