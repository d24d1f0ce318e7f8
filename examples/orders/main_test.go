package main

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// The example runs real servers (SQLite files, NATS on loopback, HTTP) in
// real time, so this checks the story it tells, that it stops everything
// it started and removes its files; not its timings.
func TestOrders(t *testing.T) {
	defer goleak.VerifyNone(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where run makes its temporary directory

	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`"o-1001", "customer": "alice", "total_cents": 4200} -> 201 order o-1001 created`,
		`"o-1003", "customer": "alice", "total_cents": 120000} -> 422 credit limit exceeded`,
		"relay:   published OrderCreated of order o-1001 to orders.created",
		"relay:   publishing order o-1002 failed: broker hiccup (simulated)",
		"relay:   published OrderCreated of order o-1002 to orders.created, after 1 failed attempt(s)",
		"reports: delivery 1 of order o-1001: applied (alice, $42.00)",
		"reports: delivery 2 of order o-1001: already applied, skipped",
		"alice  2 order(s), $57.50",
		"bob    1 order(s), $17.50",
		"order service: 3 orders stored; outbox backlog 0, dead letters 0",
		"relay: 3 published, 1 failed attempt(s)",
		"events applied 3, duplicates skipped 1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "o-1003 to orders") || strings.Contains(out.String(), "order o-1003: applied") {
		t.Errorf("the event of the rolled back order o-1003 was published:\n%s", out.String())
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind in the temporary directory: %s", e.Name())
	}
}
