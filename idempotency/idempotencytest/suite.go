// Package idempotencytest is the conformance suite of idempotency.Store:
// every store of this module runs it against its real server, and a store of
// your own should too.
//
//	func TestConformance(t *testing.T) {
//		idempotencytest.Run(t, idempotencytest.Suite{
//			New:             func(t testing.TB) idempotency.Store { return newStore(t) },
//			Child:           openStore, // in another process: the crash test
//			MaxOutcomeBytes: 1 << 20,
//		})
//	}
//
// The suite decides every expiry with the now it passes to the store, never
// by waiting: its times are the wall clock plus offsets, so that a store
// that also reclaims space by a clock of its own (Redis) keeps the records
// the suite still reads.
package idempotencytest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/idempotency"
)

// Suite describes the store under test.
type Suite struct {
	// New returns the store to test. Each call may share the store's
	// database with earlier calls: the suite uses keys of its own, random
	// per test. Required.
	New func(t testing.TB) idempotency.Store
	// Child opens the same store in another process: the test binary run
	// again with RunIfChild in its TestMain. Nil skips the crash test, for a
	// store that lives in one process (MemoryStore).
	Child func() (idempotency.Store, error)
	// ChildEnv is added to the environment of the crash child (which
	// inherits the test's), as "NAME=value" strings, so that Child can
	// tell which store to open when one test binary runs the suite on
	// several. Optional.
	ChildEnv []string
	// MaxOutcomeBytes is the largest outcome the store keeps; the suite
	// stores one of exactly that size, and expects ErrTooLarge from one
	// byte more. Required.
	MaxOutcomeBytes int
}

// childEnv is the environment variable that makes a test binary a crash
// child.
const childEnv = "IDEMPOTENCYTEST_CHILD"

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, s Suite) {
	require.NotNil(t, s.New, "idempotencytest: Suite.New is required")
	require.Positive(t, s.MaxOutcomeBytes, "idempotencytest: Suite.MaxOutcomeBytes is required")
	tests := []struct {
		name string
		run  func(*testing.T, Suite)
	}{
		{"AcquireOnce", testAcquireOnce},
		{"CompleteReplaysExactly", testCompleteReplaysExactly},
		{"LeaseRunsOut", testLeaseRunsOut},
		{"CompletedExpires", testCompletedExpires},
		{"Extend", testExtend},
		{"Release", testRelease},
		{"WrongToken", testWrongToken},
		{"KeysStoredExactly", testKeysStoredExactly},
		{"LargeOutcome", testLargeOutcome},
		{"BadRecords", testBadRecords},
		{"CancelledContext", testCancelledContext},
		{"ConcurrentAcquire", testConcurrentAcquire},
		{"Hammer", testHammer},
		{"Crash", testCrash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, s)
		})
	}
}

// key returns a key no other test uses.
func key(t testing.TB, name string) string {
	return "t/" + name + "/" + rand.Text()[:16]
}

func token() string { return rand.Text()[:20] }

// now is the suite's clock: the wall clock to the millisecond, which every
// store keeps exactly.
func now() time.Time { return time.Now().Truncate(time.Millisecond) }

func inProgress(k string, lease time.Time) idempotency.Record {
	fp := "fp:" + k
	if len(fp) > idempotency.MaxFingerprintSize {
		fp = fp[:idempotency.MaxFingerprintSize]
	}
	return idempotency.Record{Key: k, Token: token(), Fingerprint: fp, Expires: lease}
}

func done(r idempotency.Record, outcome []byte, expires time.Time) idempotency.Record {
	r.Done, r.Outcome, r.Expires = true, outcome, expires
	return r
}

func testAcquireOnce(t *testing.T, s Suite) {
	st, ctx, t0 := s.New(t), t.Context(), now()
	r := inProgress(key(t, "once"), t0.Add(time.Minute))
	live, ok, err := st.Acquire(ctx, r, t0)
	require.NoError(t, err)
	require.True(t, ok, "a new key is acquired")
	require.Zero(t, live)

	other := inProgress(r.Key, t0.Add(time.Hour))
	other.Fingerprint = "another"
	live, ok, err = st.Acquire(ctx, other, t0.Add(time.Second))
	require.NoError(t, err)
	require.False(t, ok, "a key in progress is not acquired again")
	assert.Equal(t, r.Key, live.Key)
	assert.Equal(t, r.Token, live.Token, "the live record is the first one")
	assert.Equal(t, r.Fingerprint, live.Fingerprint)
	assert.False(t, live.Done)
	assert.True(t, r.Expires.Equal(live.Expires), "Expires kept: %v, want %v", live.Expires, r.Expires)
	assert.Empty(t, live.Outcome)
}

func testCompleteReplaysExactly(t *testing.T, s Suite) {
	st, ctx, t0 := s.New(t), t.Context(), now()
	r := inProgress(key(t, "replay"), t0.Add(time.Minute))
	_, ok, err := st.Acquire(ctx, r, t0)
	require.NoError(t, err)
	require.True(t, ok)
	// Every byte value, NUL and invalid UTF-8 among them.
	outcome := make([]byte, 0, 512)
	for i := range 512 {
		outcome = append(outcome, byte(i))
	}
	d := done(r, outcome, t0.Add(24*time.Hour))
	d.Fingerprint = "fp-at-complete"
	require.NoError(t, st.Complete(ctx, d, t0.Add(time.Second)))

	live, ok, err := st.Acquire(ctx, inProgress(r.Key, t0.Add(time.Hour)), t0.Add(2*time.Second))
	require.NoError(t, err)
	require.False(t, ok, "a completed record is not acquired")
	require.True(t, live.Done)
	require.Equal(t, outcome, live.Outcome, "outcome stored byte for byte")
	assert.Equal(t, "fp-at-complete", live.Fingerprint)
	assert.Equal(t, r.Token, live.Token)
	assert.True(t, d.Expires.Equal(live.Expires), "Expires is the completed one: %v, want %v", live.Expires, d.Expires)

	// An empty outcome is an outcome too.
	r2 := inProgress(key(t, "empty"), t0.Add(time.Minute))
	_, ok, err = st.Acquire(ctx, r2, t0)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, st.Complete(ctx, done(r2, nil, t0.Add(time.Hour)), t0))
	live, ok, err = st.Acquire(ctx, inProgress(r2.Key, t0.Add(time.Hour)), t0)
	require.NoError(t, err)
	require.False(t, ok)
	require.True(t, live.Done)
	require.Empty(t, live.Outcome)
}

func testLeaseRunsOut(t *testing.T, s Suite) {
	st, ctx, t0 := s.New(t), t.Context(), now()
	first := inProgress(key(t, "lease"), t0.Add(2*time.Second))
	_, ok, err := st.Acquire(ctx, first, t0)
	require.NoError(t, err)
	require.True(t, ok)

	_, ok, err = st.Acquire(ctx, inProgress(first.Key, t0.Add(time.Minute)), t0.Add(2*time.Second-time.Millisecond))
	require.NoError(t, err)
	require.False(t, ok, "the lease still runs a millisecond before its end")

	second := inProgress(first.Key, t0.Add(time.Minute))
	_, ok, err = st.Acquire(ctx, second, t0.Add(2*time.Second))
	require.NoError(t, err)
	require.True(t, ok, "a record whose lease ran out is taken over")

	// The first execution lost its lease: nothing it does reaches the record.
	require.ErrorIs(t, st.Complete(ctx, done(first, []byte("late"), t0.Add(time.Hour)), t0.Add(3*time.Second)), idempotency.ErrLeaseLost)
	require.ErrorIs(t, st.Extend(ctx, first.Key, first.Token, t0.Add(time.Hour)), idempotency.ErrLeaseLost)
	require.ErrorIs(t, st.Release(ctx, first.Key, first.Token), idempotency.ErrLeaseLost)

	require.NoError(t, st.Complete(ctx, done(second, []byte("second"), t0.Add(time.Hour)), t0.Add(3*time.Second)))
	live, ok, err := st.Acquire(ctx, inProgress(first.Key, t0.Add(time.Hour)), t0.Add(4*time.Second))
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, []byte("second"), live.Outcome)
	require.Equal(t, second.Token, live.Token)
}

func testCompletedExpires(t *testing.T, s Suite) {
	st, ctx, t0 := s.New(t), t.Context(), now()
	r := inProgress(key(t, "ttl"), t0.Add(time.Minute))
	_, ok, err := st.Acquire(ctx, r, t0)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, st.Complete(ctx, done(r, []byte("x"), t0.Add(10*time.Second)), t0))

	_, ok, err = st.Acquire(ctx, inProgress(r.Key, t0.Add(time.Hour)), t0.Add(10*time.Second-time.Millisecond))
	require.NoError(t, err)
	require.False(t, ok, "still live a millisecond before it expires")
	again := inProgress(r.Key, t0.Add(time.Hour))
	live, ok, err := st.Acquire(ctx, again, t0.Add(10*time.Second))
	require.NoError(t, err)
	require.True(t, ok, "an expired record is replaced")
	require.Zero(t, live)
	live, ok, err = st.Acquire(ctx, inProgress(r.Key, t0.Add(time.Hour)), t0.Add(11*time.Second))
	require.NoError(t, err)
	require.False(t, ok)
	require.False(t, live.Done, "the replacement is in progress, without the old outcome")
	require.Empty(t, live.Outcome)
	require.Equal(t, again.Token, live.Token)
}

func testExtend(t *testing.T, s Suite) {
	st, ctx, t0 := s.New(t), t.Context(), now()
	r := inProgress(key(t, "extend"), t0.Add(2*time.Second))
	_, ok, err := st.Acquire(ctx, r, t0)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, st.Extend(ctx, r.Key, r.Token, t0.Add(10*time.Second)))
	_, ok, err = st.Acquire(ctx, inProgress(r.Key, t0.Add(time.Hour)), t0.Add(5*time.Second))
	require.NoError(t, err)
	require.False(t, ok, "an extended lease still runs")
	_, ok, err = st.Acquire(ctx, inProgress(r.Key, t0.Add(time.Hour)), t0.Add(10*time.Second))
	require.NoError(t, err)
	require.True(t, ok, "an extended lease runs out at its new end")
	require.ErrorIs(t, st.Extend(ctx, key(t, "absent"), r.Token, t0.Add(time.Hour)), idempotency.ErrLeaseLost)
}

func testRelease(t *testing.T, s Suite) {
	st, ctx, t0 := s.New(t), t.Context(), now()
	r := inProgress(key(t, "release"), t0.Add(time.Hour))
	_, ok, err := st.Acquire(ctx, r, t0)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, st.Release(ctx, r.Key, r.Token))
	require.ErrorIs(t, st.Release(ctx, r.Key, r.Token), idempotency.ErrLeaseLost, "released twice")
	again := inProgress(r.Key, t0.Add(time.Hour))
	_, ok, err = st.Acquire(ctx, again, t0)
	require.NoError(t, err)
	require.True(t, ok, "a released key executes again")

	// A completed record cannot be released, nor completed again.
	require.NoError(t, st.Complete(ctx, done(again, []byte("one"), t0.Add(time.Hour)), t0))
	require.ErrorIs(t, st.Release(ctx, again.Key, again.Token), idempotency.ErrLeaseLost)
	require.ErrorIs(t, st.Complete(ctx, done(again, []byte("two"), t0.Add(time.Hour)), t0), idempotency.ErrLeaseLost)
	require.ErrorIs(t, st.Extend(ctx, again.Key, again.Token, t0.Add(2*time.Hour)), idempotency.ErrLeaseLost)
	live, _, err := st.Acquire(ctx, inProgress(r.Key, t0.Add(time.Hour)), t0)
	require.NoError(t, err)
	require.Equal(t, []byte("one"), live.Outcome, "the first completion stands")
}

func testWrongToken(t *testing.T, s Suite) {
	st, ctx, t0 := s.New(t), t.Context(), now()
	r := inProgress(key(t, "token"), t0.Add(time.Hour))
	_, ok, err := st.Acquire(ctx, r, t0)
	require.NoError(t, err)
	require.True(t, ok)
	wrong := r
	wrong.Token = token()
	require.ErrorIs(t, st.Complete(ctx, done(wrong, []byte("x"), t0.Add(time.Hour)), t0), idempotency.ErrLeaseLost)
	require.ErrorIs(t, st.Extend(ctx, r.Key, wrong.Token, t0.Add(2*time.Hour)), idempotency.ErrLeaseLost)
	require.ErrorIs(t, st.Release(ctx, r.Key, wrong.Token), idempotency.ErrLeaseLost)
	require.ErrorIs(t, st.Complete(ctx, done(inProgress(key(t, "never"), t0), []byte("x"), t0.Add(time.Hour)), t0), idempotency.ErrLeaseLost)
	live, ok, err := st.Acquire(ctx, inProgress(r.Key, t0.Add(time.Hour)), t0)
	require.NoError(t, err)
	require.False(t, ok)
	require.False(t, live.Done, "untouched by the wrong token")
	require.Equal(t, r.Token, live.Token)
}

func testKeysStoredExactly(t *testing.T, s Suite) {
	st, ctx, t0 := s.New(t), t.Context(), now()
	base := key(t, "exact")
	keys := []string{
		base + ` "quoted" \ back`,
		base + "'; DROP TABLE idempotency; --",
		base + " % _ * ? [a-z]",
		base + "/ünïcödé/日本",
		base + strings.Repeat("k", idempotency.MaxStoreKeyBytes-len(base)),
		base + "A", base + "a", // differ in case only
		base + "a ", // a trailing space
	}
	for i, k := range keys {
		r := inProgress(k, t0.Add(time.Hour))
		_, ok, err := st.Acquire(ctx, r, t0)
		require.NoError(t, err, "key %q", k)
		require.True(t, ok, "key %d (%q) is its own", i, k)
		require.NoError(t, st.Complete(ctx, done(r, []byte(k), t0.Add(time.Hour)), t0))
	}
	for _, k := range keys {
		live, ok, err := st.Acquire(ctx, inProgress(k, t0.Add(time.Hour)), t0)
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, k, live.Key)
		require.Equal(t, []byte(k), live.Outcome, "key %q answered with its own outcome", k)
	}
}

func testLargeOutcome(t *testing.T, s Suite) {
	st, ctx, t0 := s.New(t), t.Context(), now()
	big := bytes.Repeat([]byte{0, 0xff, 'x', 0x80}, s.MaxOutcomeBytes/4+1)[:s.MaxOutcomeBytes]
	r := inProgress(key(t, "large"), t0.Add(time.Hour))
	_, ok, err := st.Acquire(ctx, r, t0)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, st.Complete(ctx, done(r, big, t0.Add(time.Hour)), t0), "an outcome of MaxOutcomeBytes is kept")
	live, _, err := st.Acquire(ctx, inProgress(r.Key, t0.Add(time.Hour)), t0)
	require.NoError(t, err)
	require.True(t, bytes.Equal(big, live.Outcome), "the large outcome comes back whole")

	tooBig := append(big, 'y')
	r2 := inProgress(key(t, "toolarge"), t0.Add(time.Hour))
	_, ok, err = st.Acquire(ctx, r2, t0)
	require.NoError(t, err)
	require.True(t, ok)
	require.ErrorIs(t, st.Complete(ctx, done(r2, tooBig, t0.Add(time.Hour)), t0), idempotency.ErrTooLarge)
	live, ok, err = st.Acquire(ctx, inProgress(r2.Key, t0.Add(time.Hour)), t0)
	require.NoError(t, err)
	require.False(t, ok)
	require.False(t, live.Done, "a refused outcome leaves the record in progress")
	require.NoError(t, st.Complete(ctx, done(r2, []byte("small"), t0.Add(time.Hour)), t0), "and it can still be completed")
}

func testBadRecords(t *testing.T, s Suite) {
	st, ctx, t0 := s.New(t), t.Context(), now()
	long := strings.Repeat("k", idempotency.MaxStoreKeyBytes+1)
	for name, r := range map[string]idempotency.Record{
		"empty key":        {Token: token(), Expires: t0.Add(time.Hour)},
		"key too long":     {Key: long, Token: token(), Expires: t0.Add(time.Hour)},
		"empty token":      {Key: key(t, "notoken"), Expires: t0.Add(time.Hour)},
		"token too long":   {Key: key(t, "longtoken"), Token: strings.Repeat("t", idempotency.MaxTokenBytes+1), Expires: t0.Add(time.Hour)},
		"fingerprint long": {Key: key(t, "longfp"), Token: token(), Fingerprint: strings.Repeat("f", idempotency.MaxFingerprintSize+1), Expires: t0.Add(time.Hour)},
	} {
		_, ok, err := st.Acquire(ctx, r, t0)
		require.Error(t, err, name)
		require.False(t, ok, name)
		require.ErrorIs(t, err, idempotency.ErrInvalidRecord, name)
	}
}

func testCancelledContext(t *testing.T, s Suite) {
	st, t0 := s.New(t), now()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := inProgress(key(t, "cancelled"), t0.Add(time.Hour))
	_, ok, err := st.Acquire(ctx, r, t0)
	require.Error(t, err)
	require.False(t, ok)
	_, ok, err = st.Acquire(t.Context(), r, t0)
	require.NoError(t, err)
	require.True(t, ok, "a cancelled Acquire stored nothing")
	require.Error(t, st.Complete(ctx, done(r, []byte("x"), t0.Add(time.Hour)), t0))
	require.NoError(t, st.Complete(t.Context(), done(r, []byte("x"), t0.Add(time.Hour)), t0), "a cancelled Complete changed nothing")
}

func testConcurrentAcquire(t *testing.T, s Suite) {
	st, ctx, t0 := s.New(t), t.Context(), now()
	const n = 16
	for range 5 {
		k := key(t, "race")
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []string
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				r := inProgress(k, t0.Add(time.Hour))
				_, ok, err := st.Acquire(ctx, r, t0)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					mu.Lock()
					winners = append(winners, r.Token)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Len(t, winners, 1, "one of %d concurrent Acquires of a key wins", n)
		live, _, err := st.Acquire(ctx, inProgress(k, t0.Add(time.Hour)), t0)
		require.NoError(t, err)
		require.Equal(t, winners[0], live.Token)
	}
}

// testHammer runs executions of a few keys from many goroutines, with
// leases that run out, and checks that no key ever has two completions.
func testHammer(t *testing.T, s Suite) {
	st, ctx, t0 := s.New(t), t.Context(), now()
	keys := make([]string, 4)
	for i := range keys {
		keys[i] = key(t, fmt.Sprintf("hammer%d", i))
	}
	const workers, rounds = 8, 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	completed := map[string]string{} // key: the token whose Complete succeeded
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				k := keys[(w+i)%len(keys)]
				// Virtual time moves on with i: a lease of 3 rounds runs out.
				at := t0.Add(time.Duration(i) * time.Second)
				r := inProgress(k, at.Add(3*time.Second))
				_, ok, err := st.Acquire(ctx, r, at)
				if err != nil {
					errs <- err
					return
				}
				if !ok {
					continue
				}
				switch i % 3 {
				case 0:
					err = st.Release(ctx, k, r.Token)
				case 1:
					err = st.Extend(ctx, k, r.Token, at.Add(4*time.Second))
				default:
					if err = st.Complete(ctx, done(r, []byte(r.Token), at.Add(time.Hour)), at); err == nil {
						mu.Lock()
						prev, dup := completed[k]
						completed[k] = r.Token
						mu.Unlock()
						if dup {
							errs <- fmt.Errorf("key %s completed by %s and %s", k, prev, r.Token)
							return
						}
					}
				}
				if err != nil && !errors.Is(err, idempotency.ErrLeaseLost) {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for k, tok := range completed {
		live, ok, err := st.Acquire(ctx, inProgress(k, t0.Add(time.Hour)), t0.Add(rounds*time.Second))
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, tok, live.Token, "the stored outcome is that of the one completion")
		require.Equal(t, []byte(tok), live.Outcome)
	}
}

// testCrash starts another process that acquires a key with a lease of a
// minute and is then killed with SIGKILL before it completes: the record
// stays in progress until its lease runs out, and is then taken over.
func testCrash(t *testing.T, s Suite) {
	if s.Child == nil {
		t.Skip("idempotencytest: the store lives in one process (Suite.Child is nil)")
	}
	st, ctx, t0 := s.New(t), t.Context(), now()
	k := key(t, "crash")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), s.ChildEnv...), childEnv+"="+k+"|"+t0.Format(time.RFC3339Nano))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// A generous bound on a busy machine; the child answers in milliseconds.
	select {
	case line, ok := <-lines:
		if !ok || !strings.HasPrefix(line, "acquired ") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("crash child did not acquire: %q, stderr: %s", line, stderr.String())
		}
		childToken := strings.TrimPrefix(line, "acquired ")
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		for range lines {
		}

		live, ok, err := st.Acquire(ctx, inProgress(k, t0.Add(time.Hour)), t0.Add(30*time.Second))
		require.NoError(t, err)
		require.False(t, ok, "the dead process's record is in progress until its lease runs out")
		require.Equal(t, childToken, live.Token)
		require.False(t, live.Done)

		retry := inProgress(k, t0.Add(2*time.Minute))
		_, ok, err = st.Acquire(ctx, retry, t0.Add(time.Minute))
		require.NoError(t, err)
		require.True(t, ok, "the retry executes once the lease ran out")
		require.NoError(t, st.Complete(ctx, done(retry, []byte("retried"), t0.Add(time.Hour)), t0.Add(time.Minute)))
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("crash child silent for 2 minutes; stderr: %s", stderr.String())
	}
}

// RunIfChild makes this process the crash child of the suite when it was
// started as one, and returns at once otherwise. Call it first thing in the
// TestMain of a package that runs the suite with a Suite.Child, with that
// same function. The child acquires the key it is given with a lease of a
// minute, says so, and waits to be killed.
func RunIfChild(open func() (idempotency.Store, error)) {
	v := os.Getenv(childEnv)
	if v == "" {
		return
	}
	k, at, _ := strings.Cut(v, "|")
	t0, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	st, err := open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	r := inProgress(k, t0.Add(time.Minute))
	_, ok, err := st.Acquire(context.Background(), r, t0)
	if err != nil || !ok {
		fmt.Fprintln(os.Stderr, "crash child: acquire:", ok, err)
		os.Exit(2)
	}
	fmt.Println("acquired " + r.Token)
	select {} // the handler is busy when the process dies
}
