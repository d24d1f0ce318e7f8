package redis_test

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resiliencekit/resilience/idempotency"
	"github.com/resiliencekit/resilience/idempotency/redis"
)

// BenchmarkHandler measures what Handler adds to a request with the Redis
// store, as the core module's BenchmarkHandler does with the MemoryStore:
// a first request with its key (Acquire and Complete, two round trips, and
// the renewal timer) and a repeat (one Acquire that finds the outcome). Each
// run has a prefix of its own, whose keys are deleted when it ends.
func BenchmarkHandler(b *testing.B) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"o-1","status":"created"}`))
	})
	body := `{"customer":"alice","total_cents":4200}`
	run := func(b *testing.B, scenario string, key func(i int) string) {
		rdb := client(b, 0, nil)
		prefix := runPrefix("bench-" + scenario + "-" + rand.Text()[:8])
		cleanup(b, prefix)
		// A short TTL, so that Redis reclaims what a failed cleanup left.
		st := redis.NewStore(rdb, redis.Config{Prefix: prefix})
		h := idempotency.New(st, idempotency.Config{TTL: 10 * time.Minute}).Handler(next)
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
	b.Run("redis/first", func(b *testing.B) { run(b, "first", func(i int) string { return "k" + strconv.Itoa(i) }) })
	b.Run("redis/replay", func(b *testing.B) { run(b, "replay", func(int) string { return "k" }) })
}
