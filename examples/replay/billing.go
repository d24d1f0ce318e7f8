package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
)

// usage is one usage record, the body of POST /usage: a request that must
// not be lost (it is money) but need not be answered at once.
type usage struct {
	ID       string `json:"id"`
	Customer string `json:"customer"`
	Units    int    `json:"units"`
}

// billing is the downstream: a billing service that the story breaks and
// heals. While it is down it answers every request with 503.
//
// It is idempotent, as a service that takes replayed requests should be:
// a request whose Idempotency-Key it has seen is answered 200 and not
// recorded again. It also keeps every request it accepted, duplicates
// included, so that the test can tell whether anything arrived twice.
type billing struct {
	mu       sync.Mutex
	down     bool
	recorded map[string]usage // by Idempotency-Key
	arrivals []string         // the Idempotency-Key of every request accepted, in order
}

func newBilling() *billing {
	return &billing{recorded: map[string]usage{}}
}

// setDown breaks (true) or heals (false) the service.
func (b *billing) setDown(down bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.down = down
}

func (b *billing) isDown() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.down
}

// received returns the Idempotency-Key of every request the service
// accepted, in arrival order, duplicates included.
func (b *billing) received() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.arrivals)
}

// handler returns the HTTP API of the service: POST /usage, and GET
// /health for the breaker's health check.
func (b *billing) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /usage", b.record)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if b.isDown() {
			http.Error(w, "billing unavailable", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// record serves POST /usage: 201 for a new record, 200 for one it has
// already, 503 while the service is down.
func (b *billing) record(w http.ResponseWriter, r *http.Request) {
	var u usage
	key := r.Header.Get("Idempotency-Key")
	if err := json.NewDecoder(r.Body).Decode(&u); err != nil || key == "" || u.ID == "" || u.Units <= 0 {
		http.Error(w, "want an Idempotency-Key and {id, customer, units > 0}", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		http.Error(w, "billing unavailable", http.StatusServiceUnavailable)
		return
	}
	b.arrivals = append(b.arrivals, key)
	if _, ok := b.recorded[key]; ok {
		fmt.Fprintln(w, "already recorded")
		return
	}
	b.recorded[key] = u
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintln(w, "recorded")
}
