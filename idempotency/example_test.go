package idempotency_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/resiliencekit/resilience/idempotency"
)

// A POST retried with its Idempotency-Key is answered from the stored
// response: the order is created once.
func Example() {
	keys := idempotency.New(idempotency.NewMemoryStore(idempotency.MemoryConfig{}), idempotency.Config{})
	orders := 0
	create := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orders++
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Location", fmt.Sprintf("/orders/%d", orders))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "order %d: %s", orders, body)
	})
	h := keys.Handler(create)

	send := func(key, body string) {
		r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
		r.Header.Set("Idempotency-Key", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("Location"), w.Header().Get("Idempotent-Replayed"), strings.TrimSpace(w.Body.String()))
	}
	send(`"7c4a8d09"`, "2 books") // executes
	send(`"7c4a8d09"`, "2 books") // a retry: replayed
	send(`"7c4a8d09"`, "3 books") // the key of another request
	fmt.Println("orders created:", orders)
	// Output:
	// 201 /orders/1  order 1: 2 books
	// 201 /orders/1 true order 1: 2 books
	// 422   {"type":"https://pkg.go.dev/github.com/resiliencekit/resilience/idempotency#ErrMismatch","title":"Unprocessable Entity","status":422,"detail":"This idempotency key was sent with a different request; use a new key for a new request."}
	// orders created: 1
}

// Do runs a call once per key, for work that is not an HTTP request: a
// message handler, a job.
func ExampleDo() {
	keys := idempotency.New(idempotency.NewMemoryStore(idempotency.MemoryConfig{}), idempotency.Config{})
	charges := 0
	charge := func(context.Context) (string, error) {
		charges++
		return fmt.Sprintf("ch_%d", charges), nil
	}
	for range 3 { // the message is delivered three times
		id, err := idempotency.Do(context.Background(), keys, "invoice-2026-0042", charge)
		fmt.Println(id, err)
	}
	fmt.Println("charged:", charges)
	// Output:
	// ch_1 <nil>
	// ch_1 <nil>
	// ch_1 <nil>
	// charged: 1
}
