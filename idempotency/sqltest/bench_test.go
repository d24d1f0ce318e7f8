package sqltest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/resiliencekit/resilience/idempotency"
)

// BenchmarkHandler measures what Handler adds to a request with the
// SQLStore on PostgreSQL and SQLite, as the core module's BenchmarkHandler
// does with the MemoryStore: a first request with its key (Acquire and
// Complete, two round trips, and the renewal timer) and a repeat (one
// Acquire that finds the outcome). Each run has a table of its own,
// dropped when it ends.
func BenchmarkHandler(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"o-1","status":"created"}`))
	})
	body := `{"customer":"alice","total_cents":4200}`
	run := func(b *testing.B, tg target, key func(i int) string) {
		f := newFixture(b, tg, idempotency.SQLConfig{})
		h := idempotency.New(f.store, idempotency.Config{}).Handler(next)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
			r.Header.Set("Idempotency-Key", key(i))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				b.Fatal(w.Code, w.Body.String())
			}
		}
	}
	for _, tg := range targets() {
		if tg.name != "postgres" && tg.name != "sqlite" {
			continue
		}
		b.Run(tg.name+"/first", func(b *testing.B) { run(b, tg, func(i int) string { return "k" + strconv.Itoa(i) }) })
		b.Run(tg.name+"/replay", func(b *testing.B) { run(b, tg, func(int) string { return "k" }) })
	}
}
