package sqltest

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/idempotency"
	"github.com/resiliencekit/resilience/outbox/postgres"
)

// The environment of a handler child (TestKilledHandler): envHandlerChild
// makes the test binary one, envDSN and envTable name the store, and
// envEffects the table of the handler's effects.
const (
	envHandlerChild = "IDEMPOTENCY_SQLTEST_HANDLER_CHILD"
	envEffects      = "IDEMPOTENCY_SQLTEST_EFFECTS"
)

// killedLease is the lease of the records in TestKilledHandler: short, so
// that a killed process's key is free again in about two seconds.
const killedLease = 2 * time.Second

// The request headers of effectHandler. dieHeader says where a handler
// child stops for good: dieBeforeCommit after CommitTx and before its
// transaction commits, dieAfterCommit after it committed and before the
// handler returns. noCommitTxHeader makes the handler commit its effect in a
// transaction of its own, without the record (at least once).
const (
	dieHeader        = "X-Die"
	dieBeforeCommit  = "before-commit"
	dieAfterCommit   = "after-commit"
	noCommitTxHeader = "X-Without-CommitTx"
)

// effectHandler inserts the request's idempotency key into the table
// effects and answers 201. It calls die, which may never return, at the
// point that the header X-Die names.
func effectHandler(db *sql.DB, effects string, die func(r *http.Request, at string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer tx.Rollback() //nolint:errcheck // a no-op once committed
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+effects+" (key) VALUES ($1)", r.Header.Get("Idempotency-Key")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if r.Header.Get(noCommitTxHeader) != "" {
			// The effect commits alone; the outcome is stored by Handler
			// after the handler returns.
			if err := tx.Commit(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, "created\n")
			die(r, dieAfterCommit)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "created\n")
		if err := idempotency.CommitTx(ctx, tx); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		die(r, dieBeforeCommit)
		if err := tx.Commit(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		die(r, dieAfterCommit)
	})
}

// runHandlerChild makes this process a handler child when the environment
// says so, and returns at once otherwise. The child serves effectHandler
// under Handler on a loopback listener, prints "listening <addr>", and,
// when a request reaches the point its X-Die header names, prints
// "holding <key>" and blocks until it is killed. It exits by itself after
// five minutes, should its parent never kill it.
func runHandlerChild() {
	if os.Getenv(envHandlerChild) == "" {
		return
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "handler child:", err)
		os.Exit(2)
	}
	time.AfterFunc(5*time.Minute, func() { fail(fmt.Errorf("not killed after 5 minutes")) })
	db, err := postgres.Open(os.Getenv(envDSN))
	if err != nil {
		fail(err)
	}
	if err := db.Ping(); err != nil {
		fail(err)
	}
	st := idempotency.NewSQLStore(db, idempotency.SQLConfig{Dialect: idempotency.Postgres, Table: os.Getenv(envTable)})
	die := func(r *http.Request, at string) {
		if r.Header.Get(dieHeader) == at {
			fmt.Println("holding " + r.Header.Get("Idempotency-Key"))
			select {} // the handler is busy when the process dies
		}
	}
	h := idempotency.New(st, idempotency.Config{Lease: killedLease}).Handler(effectHandler(db, os.Getenv(envEffects), die))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	fmt.Println("listening " + l.Addr().String())
	fail(http.Serve(l, h))
}

// TestKilledHandler kills, with SIGKILL, a process serving a request under
// Handler on PostgreSQL, and retries the request in another process (here,
// the test's): with CommitTx, a process killed before its transaction
// committed left nothing, and the retry executes once the lease ran out;
// one killed after the commit left the effect and the outcome, and the
// retry is answered with the outcome at once. Without CommitTx, a process
// killed after its effect committed leaves the key in progress, and the
// retry executes again: the handler runs at least once, here twice.
func TestKilledHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		key      string
		die      string
		noTx     bool
		replayed bool // the retry gets the dead process's response
		// inProgress is how many records in progress the killed
		// process left; effects how many rows of its key effects holds
		// in the end.
		inProgress, effects int
	}{
		// Neither the effect nor the outcome committed.
		{"before commit", "K1", dieBeforeCommit, false, false, 1, 1},
		// Both committed.
		{"after commit", "K2", dieAfterCommit, false, true, 0, 1},
		// The effect committed, and the key is in progress.
		{"without CommitTx", "K3", dieAfterCommit, true, false, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, postgresTarget(t), idempotency.SQLConfig{})
			effects := f.table + "_effects"
			_, err := f.db.ExecContext(t.Context(), "CREATE TABLE "+effects+" (key text)")
			require.NoError(t, err)
			t.Cleanup(func() { _, _ = f.db.Exec("DROP TABLE IF EXISTS " + effects) })

			req := func(ctx context.Context, base string) *http.Request {
				r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/orders", strings.NewReader(`{"total_cents":4200}`))
				require.NoError(t, err)
				r.Header.Set("Idempotency-Key", tt.key)
				r.Header.Set(dieHeader, tt.die)
				if tt.noTx {
					r.Header.Set(noCommitTxHeader, "1")
				}
				return r
			}

			// The child takes the request and stops where it was told.
			child := startHandlerChild(t, f, effects)
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			first := req(ctx, "http://"+child.addr)
			sent := make(chan error, 1)
			go func() {
				resp, err := (&http.Client{Transport: tr}).Do(first)
				if err == nil {
					resp.Body.Close()
					err = fmt.Errorf("the child answered %s", resp.Status)
				}
				sent <- err
			}()
			child.expect(t, "holding "+tt.key)
			child.kill(t)
			require.Error(t, <-sent, "the killed child sends no response")
			var inProgress int
			require.NoError(t, f.db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+f.table+" WHERE NOT done").Scan(&inProgress))
			require.Equal(t, tt.inProgress, inProgress, "records in progress after the kill")

			// The retry, in another process with a Handler of its own on
			// the same store.
			srv := httptest.NewServer(idempotency.New(f.store, idempotency.Config{Lease: killedLease}).
				Handler(effectHandler(f.db, effects, func(*http.Request, string) {})))
			defer srv.Close()
			retry := func() (int, http.Header, time.Time) {
				resp, err := srv.Client().Do(req(ctx, srv.URL))
				require.NoError(t, err)
				defer resp.Body.Close()
				_, err = io.Copy(io.Discard, resp.Body)
				require.NoError(t, err)
				return resp.StatusCode, resp.Header, time.Now()
			}
			var expires int64 // the end of the dead process's lease, in unix ms
			if !tt.replayed {
				require.NoError(t, f.db.QueryRowContext(t.Context(), "SELECT expires_ms FROM "+f.table+" WHERE NOT done").Scan(&expires))
			}
			status, h, at := retry()
			switch {
			case tt.replayed:
				require.Equal(t, http.StatusCreated, status)
				require.Equal(t, "true", h.Get(idempotency.ReplayedHeader), "the stored response, at once")
			case at.UnixMilli() < expires:
				require.Equal(t, http.StatusConflict, status, "the record is in progress until the lease runs out")
			default:
				t.Logf("the first retry came %v after the lease ran out; its 409 was not seen", at.Sub(time.UnixMilli(expires)))
			}
			// Retry until the lease ran out: a generous bound, for a busy
			// machine.
			conflicts := 0
			for deadline := time.Now().Add(time.Minute); status == http.StatusConflict; {
				require.True(t, time.Now().Before(deadline), "still 409 a minute after the kill (lease %v)", killedLease)
				conflicts++
				time.Sleep(50 * time.Millisecond)
				status, h, _ = retry()
			}
			require.Equal(t, http.StatusCreated, status)
			if !tt.replayed {
				t.Logf("%d retries answered 409 before the lease ran out", conflicts)
				require.Empty(t, h.Get(idempotency.ReplayedHeader), "the retry executed")
				status, h, _ = retry()
				require.Equal(t, http.StatusCreated, status)
				require.Equal(t, "true", h.Get(idempotency.ReplayedHeader), "and its response is stored")
			}
			var n int
			require.NoError(t, f.db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+effects+" WHERE key = $1", tt.key).Scan(&n))
			require.Equal(t, tt.effects, n, "rows of %s in effects", tt.key)
		})
	}
}

func postgresTarget(t *testing.T) target {
	for _, tg := range targets() {
		if tg.d == idempotency.Postgres {
			return tg
		}
	}
	t.Fatal("no PostgreSQL target")
	return target{}
}

// A handlerChild is a running handler child.
type handlerChild struct {
	cmd    *exec.Cmd
	addr   string
	lines  chan string
	stderr *bytes.Buffer
	killed bool
}

// startHandlerChild starts a handler child on the store of f and waits for
// its address. The child is killed when t ends, if it was not before.
func startHandlerChild(t *testing.T, f *fixture, effects string) *handlerChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHandlerChild+"=1", envDSN+"="+f.dsn, envTable+"="+f.table, envEffects+"="+effects)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	c := &handlerChild{cmd: cmd, lines: make(chan string), stderr: new(bytes.Buffer)}
	cmd.Stderr = c.stderr
	require.NoError(t, cmd.Start())
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { c.kill(t) })
	line := c.expect(t, "listening ")
	c.addr = strings.TrimPrefix(line, "listening ")
	return c
}

// expect waits for the next line the child prints, which must start with
// prefix, and returns it. The bound is generous: the child answers in
// milliseconds.
func (c *handlerChild) expect(t *testing.T, prefix string) string {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok || !strings.HasPrefix(line, prefix) {
			c.kill(t)
			t.Fatalf("handler child: want %q, got %q (open: %v); stderr: %s", prefix, line, ok, c.stderr)
		}
		return line
	case <-time.After(2 * time.Minute):
		c.kill(t)
		t.Fatalf("handler child silent for 2 minutes, want %q; stderr: %s", prefix, c.stderr)
		return ""
	}
}

// kill kills the child with SIGKILL and waits for it and for its output.
func (c *handlerChild) kill(t *testing.T) {
	if c.killed {
		return
	}
	c.killed = true
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Errorf("kill the handler child: %v", err)
	}
	for range c.lines {
	}
	_ = c.cmd.Wait()
}
