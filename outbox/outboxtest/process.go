package outboxtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
)

// The relay settings of crash children: a relay killed with SIGKILL may
// have up to CrashBatch messages published but not recorded, and its keys
// are taken over CrashLeaseTTL after it died.
const (
	CrashBatch    = 100
	CrashLeaseTTL = 2 * time.Second
)

// CrashRelayConfig returns the RelayConfig of a crash child's relay: small
// lease, quick polling, errors written to standard error.
func CrashRelayConfig() outbox.RelayConfig {
	return outbox.RelayConfig{
		BatchSize: CrashBatch, LeaseTTL: CrashLeaseTTL, PollInterval: 20 * time.Millisecond,
		OnError: func(_ context.Context, err error) { fmt.Fprintln(os.Stderr, "relay:", err) },
	}
}

// RunIfChild runs run and exits the process when the environment variable
// key is "crash", that is when this process was started by StartChild with
// that key; otherwise it returns at once. Call it first thing in TestMain.
func RunIfChild(key string, run func() error) {
	if os.Getenv(key) != "crash" {
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// A Process is the running test binary started again as a crash child.
type Process struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

// StartChild starts the test binary again, running no test, with key=crash
// and env added to its environment, so that RunIfChild(key, ...) in its
// TestMain takes over.
func StartChild(t testing.TB, key string, env ...string) *Process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), key+"=crash"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	return &Process{cmd: cmd, out: &out}
}

// Kill kills the child with SIGKILL, waits for it and returns its output.
func (c *Process) Kill() string {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
	return c.out.String()
}

// Pause stops the child with SIGSTOP, as a long GC pause or a frozen VM
// would: its clocks run on, its timers fire late.
func (c *Process) Pause() { _ = c.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume lets a paused child go on with SIGCONT.
func (c *Process) Resume() { _ = c.cmd.Process.Signal(syscall.SIGCONT) }
