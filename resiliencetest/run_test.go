package resiliencetest

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
)

// TestHelperBrokenPolicy runs Run on a policy that breaks rules 1 and 3,
// when TestRunFailsTheTest asks for it in a child process.
func TestHelperBrokenPolicy(t *testing.T) {
	if os.Getenv("RESILIENCETEST_HELPER") != "1" {
		t.Skip("run by TestRunFailsTheTest")
	}
	Run(t, factory(resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		_ = twice.Do(ctx, op)
		return nil // and swallows op's error
	})), Config{Skip: map[Check]string{CheckDeferRelease: "not safe with Transport"}})
}

// Run itself, not only its checks, fails the test it is given: the failing
// checks are failed subtests, the others pass, a skipped one is skipped.
func TestRunFailsTheTest(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBrokenPolicy$", "-test.v")
	cmd.Env = append(os.Environ(), "RESILIENCETEST_HELPER=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the test of a broken policy fails:\n%s", out)
	for _, want := range []string{
		`--- FAIL: TestHelperBrokenPolicy/Sequential`,
		`--- FAIL: TestHelperBrokenPolicy/Errors`,
		`--- FAIL: TestHelperBrokenPolicy/Hammer`,
		`--- PASS: TestHelperBrokenPolicy/Context`,
		`--- PASS: TestHelperBrokenPolicy/Panic`,
		`--- SKIP: TestHelperBrokenPolicy/DeferRelease`,
		`not safe with Transport`,
		`one Do ran 2 calls of op at once`,
		`op's error was swallowed`,
	} {
		assert.Regexp(t, regexp.QuoteMeta(want), string(out))
	}
}
