package main

import (
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestPayments runs the story on real SQLite and HTTP over loopback, and
// checks that each payment was made once although each was sent twice.
func TestPayments(t *testing.T) {
	defer goleak.VerifyNone(t)
	t.Setenv("TMPDIR", t.TempDir())
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"network: the connection dropped before the response",
		`client:  201 {"payment":1,"customer":"alice","cents":4200} (replayed)`,
		"server:  failed: payments: the process fails before its commit (simulated)",
		`client:  201 {"payment":2,"customer":"bob","cents":1750}`,
		"server: 4 requests, 3 executions; 2 payments stored, 2 PaymentCaptured events in the outbox",
		"keys: 3 executed, 1 replayed",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	// Each payment's attempts carried one key.
	keys := regexp.MustCompile(`Idempotency-Key ("[0-9a-f]{32}")`).FindAllStringSubmatch(s, -1)
	if len(keys) != 4 || keys[0][1] != keys[1][1] || keys[2][1] != keys[3][1] || keys[0][1] == keys[2][1] {
		t.Errorf("want two keys, each sent twice: %q\n%s", keys, s)
	}
}
