package outboxbench_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	crashChild() // runs a crash test's relay and exits, in a child process
	goleak.VerifyTestMain(m)
}
