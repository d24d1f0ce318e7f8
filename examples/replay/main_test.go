package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
)

// The example runs real servers (SQLite files, NATS on loopback, HTTP) in
// real time, so this checks what it did and the story it tells, that it
// stops everything it started and removes its files; not its timings. It
// waits for nothing by sleeping: run waits for the worker's progress,
// bounded by its 30 s context.
func TestReplay(t *testing.T) {
	defer goleak.VerifyNone(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where run makes its temporary directory

	var out strings.Builder
	o, err := run(&out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}

	// While the breaker was open, every request was logged and accepted.
	logged := []string{"u-05", "u-06", "u-07", "u-08", "u-09"}
	if !slices.Equal(o.accepted, logged) {
		t.Errorf("accepted for replay %v, want %v\n%s", o.accepted, logged, out.String())
	}
	// Billing got the first request at once and each logged one once:
	// none lost, none twice, although JetStream delivered one again.
	want := append([]string{"u-01"}, logged...)
	if got := slices.Sorted(slices.Values(o.received)); !slices.Equal(got, want) {
		t.Errorf("billing received %v, want %v, each once\n%s", o.received, want, out.String())
	}
	if o.skipped < 1 {
		t.Errorf("the worker skipped %d redeliveries, want the one of the lost ack\n%s", o.skipped, out.String())
	}

	for _, want := range []string{
		"client:  POST /usage u-01 (alice, 3 units) -> 201 recorded",
		"client:  POST /usage u-02 (bob, 6 units) -> 503 billing unavailable",
		"breaker: closed -> open",
		"client:  POST /usage u-05 (bob, 4 units) -> 202 accepted for replay (outbox message ",
		"held back: the breaker is open",
		"breaker: half-open -> closed",
		"worker:  replayed u-0",
		"worker:  ... and crashed before its ack (simulated)",
		": replayed already, skipped",
		"billing received u-01 ",
		": 6 request(s), 0 twice",
		"outbox backlog 0, dead letters 0; relay published 5",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "-> failed") {
		t.Errorf("a request failed:\n%s", out.String())
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind in the temporary directory: %s", e.Name())
	}
}

// Only a request that the open breaker refused is logged: it never left,
// so replaying it cannot count it twice. A failure that reached billing
// goes to the caller, and so does a refusal once the caller gave up.
func TestRefusedByBreaker(t *testing.T) {
	t.Parallel()
	live := context.Background()
	gone, cancel := context.WithCancel(live)
	cancel()
	open := &breaker.OpenError{} // the zero value: an open breaker's rejection
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"open breaker", live, open, true},
		{"open breaker, wrapped", live, &url.Error{Op: "Post", URL: "http://billing/usage", Err: open}, true},
		{"open breaker, caller gone", gone, open, false},
		{"billing answered 503", live, &resilience.StatusError{Code: http.StatusServiceUnavailable}, false},
		{"connection refused", live, errors.New("dial tcp: connection refused"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := refusedByBreaker(tc.ctx, tc.err); got != tc.want {
				t.Errorf("refusedByBreaker(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// The log reads a request's body anew with GetBody, and refuses what it
// cannot read again or what is too large to keep.
func TestReadBody(t *testing.T) {
	t.Parallel()
	req := func(body io.Reader) *http.Request {
		r, err := http.NewRequest(http.MethodPost, "http://billing/usage", body)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	streamed := req(nil)
	streamed.Body = io.NopCloser(strings.NewReader("{}")) // no GetBody
	for _, tc := range []struct {
		name    string
		req     *http.Request
		want    string
		wantErr string
	}{
		{"no body", req(nil), "", ""},
		{"replayable body", req(strings.NewReader(`{"id":"u-1"}`)), `{"id":"u-1"}`, ""},
		{"largest body", req(strings.NewReader(strings.Repeat("x", maxLoggedBody))), strings.Repeat("x", maxLoggedBody), ""},
		{"body too large", req(strings.NewReader(strings.Repeat("x", maxLoggedBody+1))), "", "over 65536 bytes"},
		{"body without GetBody", streamed, "", "cannot be read again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := readBody(tc.req)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("readBody: error %v, want one with %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("readBody: %v", err)
			case string(got) != tc.want:
				t.Errorf("readBody = %q, want %q", got, tc.want)
			}
		})
	}
}
