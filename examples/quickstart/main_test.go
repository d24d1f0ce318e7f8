package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// The quickstart runs against a real loopback server in real time, so this
// checks the story it tells, not its timings.
func TestQuickstart(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"1. healthy server",
		`200 "apple: 42 in stock"`,
		`msg="resilience: retry" policy=retry name=inventory attempt=2`,
		`msg="resilience: timeout" policy=timelimit name=attempt duration=150ms`,
		`msg="resilience: state_change" policy=breaker name=inventory key=`,
		"from=closed to=open",
		`msg="resilience: rejected" policy=breaker name=inventory key=`,
		"reason=open",
		"circuit open",
		"from=half-open to=closed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
