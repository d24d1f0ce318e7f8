package redis_test

import (
	"crypto/rand"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/resiliencekit/resilience/idempotency/idempotencytest"
)

func TestMain(m *testing.M) {
	idempotencytest.RunIfChild(openChild)
	// One prefix per run of the test binary, handed down to the crash
	// child of the conformance suite through the environment.
	if os.Getenv(prefixEnv) == "" {
		_ = os.Setenv(prefixEnv, "idemtest:"+rand.Text()[:16]+":")
	}
	goleak.VerifyTestMain(m)
}
