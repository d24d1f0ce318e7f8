package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/internal/testenv"
)

var prefixes atomic.Int64

// prefix returns a key prefix no other test (or run) uses, so tests can
// share the machine's Redis with anything else.
func prefix(t testing.TB) string {
	return fmt.Sprintf("rltest:%d:%d:%s:", os.Getpid(), prefixes.Add(1), t.Name())
}

// sharedRedis returns a client of the machine's Redis (skipping the test
// when there is none, failing under CI=true), closed with the test.
func sharedRedis(t testing.TB) *goredis.Client {
	addr := testenv.Require(t, testenv.Redis)
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.Ping(context.Background()).Err())
	return c
}

// privateRedis is a redis-server of the test's own, on a free port, that
// the test may stop and start again. The machine's shared Redis is never
// touched.
type privateRedis struct {
	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
}

func startPrivateRedis(t testing.TB) *privateRedis {
	if _, err := exec.LookPath("redis-server"); err != nil {
		msg := "redis-server is not installed (apt-get install redis-server): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	r := &privateRedis{t: t, port: port, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *privateRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *privateRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no", "--loglevel", "warning")
	require.NoError(r.t, r.cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr(), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("private redis-server on %s did not start: %v", r.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server (an outage, not a shutdown) and waits for it.
func (r *privateRedis) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// downScripter is a Redis that never answers: every command fails.
type downScripter struct {
	calls atomic.Int32
}

var errDown = errors.New("dial tcp 127.0.0.1:6379: connection refused")

func (d *downScripter) cmd(ctx context.Context) *goredis.Cmd {
	d.calls.Add(1)
	c := goredis.NewCmd(ctx)
	c.SetErr(errDown)
	return c
}

func (d *downScripter) Eval(ctx context.Context, _ string, _ []string, _ ...interface{}) *goredis.Cmd {
	return d.cmd(ctx)
}

func (d *downScripter) EvalSha(ctx context.Context, _ string, _ []string, _ ...interface{}) *goredis.Cmd {
	return d.cmd(ctx)
}

func (d *downScripter) EvalRO(ctx context.Context, _ string, _ []string, _ ...interface{}) *goredis.Cmd {
	return d.cmd(ctx)
}

func (d *downScripter) EvalShaRO(ctx context.Context, _ string, _ []string, _ ...interface{}) *goredis.Cmd {
	return d.cmd(ctx)
}

func (d *downScripter) ScriptExists(ctx context.Context, _ ...string) *goredis.BoolSliceCmd {
	c := goredis.NewBoolSliceCmd(ctx)
	c.SetErr(errDown)
	return c
}

func (d *downScripter) ScriptLoad(ctx context.Context, _ string) *goredis.StringCmd {
	c := goredis.NewStringCmd(ctx)
	c.SetErr(errDown)
	return c
}
