package redis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/internal/testenv"
)

// client returns a client of the machine's Redis, closed when t ends, and a
// key prefix no other test uses.
func client(t *testing.T) (*goredis.Client, string) {
	t.Helper()
	addr := testenv.Require(t, testenv.Redis)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := fmt.Sprintf("test:%s:%d:", strings.ReplaceAll(t.Name(), "/", "."), rand.Uint64())
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			_ = rdb.Del(ctx, keys...).Err()
		}
	})
	return rdb, prefix
}

// waitSubscribers waits until channel has n subscribers.
func waitSubscribers(t *testing.T, rdb goredis.UniversalClient, channel string, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := rdb.PubSubNumSub(context.Background(), channel).Result()
		if err == nil && got[channel] == n {
			return
		}
		require.True(t, time.Now().Before(deadline), "channel %s has %d subscribers, want %d (err %v)", channel, got[channel], n, err)
		time.Sleep(10 * time.Millisecond)
	}
}

// privateRedis is a redis-server of the test's own, on a free port, that the
// test may kill and start again. The machine's shared Redis is never
// touched.
type privateRedis struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		msg := "redis-server is not installed (apt-get install redis-server): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	r := &privateRedis{t: t, port: port}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *privateRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *privateRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir(), "--logfile", "")
	require.NoError(r.t, r.cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", r.addr(), time.Second)
		if err == nil {
			conn.Close()
			return
		}
		require.True(r.t, time.Now().Before(deadline), "private redis-server did not start: %v", err)
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *privateRedis) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// errLog collects the errors a store reports.
type errLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errLog) add(_ context.Context, err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.errs)
}

// source is the data owner's database in the tests.
type source struct {
	mu    sync.Mutex
	vals  map[string]string
	loads int
}

func (s *source) set(k, v string) {
	s.mu.Lock()
	s.vals[k] = v
	s.mu.Unlock()
}

func (s *source) load(_ context.Context, k string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	return s.vals[k], nil
}

func (s *source) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads
}
