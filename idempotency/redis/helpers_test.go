package redis_test

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/resiliencekit/resilience/idempotency"
	"github.com/resiliencekit/resilience/idempotency/redis"
	"github.com/resiliencekit/resilience/internal/testenv"
)

// prefixEnv holds the key prefix of this run of the test binary: set by
// TestMain, inherited by the crash child.
const prefixEnv = "IDEMPOTENCY_REDIS_TEST_PREFIX"

// runPrefix returns the prefix of this run, followed by name.
func runPrefix(name string) string { return os.Getenv(prefixEnv) + name + ":" }

// client returns a client of the machine's Redis speaking RESP version
// protocol (0: go-redis's default, 3), closed when t ends, that counts the
// commands it sends in sent (when not nil).
func client(t testing.TB, protocol int, sent *atomic.Int64) *goredis.Client {
	t.Helper()
	addr := testenv.Require(t, testenv.Redis)
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, Protocol: protocol})
	t.Cleanup(func() { _ = rdb.Close() })
	if sent != nil {
		rdb.AddHook(counter{sent})
	}
	return rdb
}

// cleanup deletes the keys under prefix when t ends, scanning at most
// 100,000 keys' worth.
func cleanup(t testing.TB, prefix string) {
	t.Cleanup(func() {
		addr := testenv.Require(t, testenv.Redis)
		rdb := goredis.NewClient(&goredis.Options{Addr: addr})
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var cursor uint64
		for range 100 {
			keys, next, err := rdb.Scan(ctx, cursor, prefix+"*", 1000).Result()
			if err != nil {
				t.Logf("cleanup of %s: %v", prefix, err)
				return
			}
			if len(keys) > 0 {
				if err := rdb.Del(ctx, keys...).Err(); err != nil {
					t.Logf("cleanup of %s: %v", prefix, err)
					return
				}
			}
			if cursor = next; cursor == 0 {
				return
			}
		}
		t.Logf("cleanup of %s: gave up after 100 scans", prefix)
	})
}

// counter is a goredis hook that counts the commands a client sends.
type counter struct{ n *atomic.Int64 }

func (counter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (c counter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c counter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// openChild opens the store of the conformance suite in the crash child,
// which has no testing.T: the address comes from the environment as
// testenv would find it.
func openChild() (idempotency.Store, error) {
	addr := os.Getenv(testenv.Redis.Env)
	if addr == "" {
		addr = testenv.Redis.Default
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		return nil, err
	}
	return redis.NewStore(rdb, redis.Config{Prefix: runPrefix("conformance")}), nil
}

func newRecord(key string, expires time.Time) idempotency.Record {
	return idempotency.Record{Key: key, Token: "tok-" + key, Fingerprint: "fp", Expires: expires}
}

func now() time.Time { return time.Now().Truncate(time.Millisecond) }
