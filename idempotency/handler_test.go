package idempotency_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/idempotency"
)

func TestHandlerReplaysTheStoredResponse(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{})
	next := &counting{}
	h := k.Handler(next)

	first := serve(h, post(`"k1"`, "order"))
	require.Equal(t, http.StatusCreated, first.Code)
	require.Equal(t, "created order", first.Body.String())
	require.Empty(t, first.Header().Get(idempotency.ReplayedHeader))

	again := serve(h, post(`"k1"`, "order"))
	require.Equal(t, http.StatusCreated, again.Code)
	require.Equal(t, "created order", again.Body.String())
	require.Equal(t, "/orders/1", again.Header().Get("Location"))
	require.Equal(t, "text/plain", again.Header().Get("Content-Type"))
	require.Equal(t, "true", again.Header().Get(idempotency.ReplayedHeader))
	require.Empty(t, again.Header().Get("Set-Cookie"), "headers outside the allow-list are not replayed")
	require.Empty(t, again.Header().Get("X-Call"))
	require.EqualValues(t, 1, next.calls.Load(), "executed once")

	// A bare key is the same key as its quoted form.
	bare := serve(h, post("k1", "order"))
	require.Equal(t, "true", bare.Header().Get(idempotency.ReplayedHeader))
	require.EqualValues(t, 1, next.calls.Load())

	m := k.Metrics()
	require.EqualValues(t, 1, m.Executed)
	require.EqualValues(t, 2, m.Replayed)
}

func TestHandlerConfiguredHeaders(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{Headers: []string{"x-call"}})
	next := &counting{}
	h := k.Handler(next)
	serve(h, post("k", ""))
	again := serve(h, post("k", ""))
	require.Equal(t, "n", again.Header().Get("X-Call"))
	require.Empty(t, again.Header().Get("Location"))
}

func TestHandlerConcurrentDuplicate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k, _ := newKeys(idempotency.Config{})
		next := &counting{hold: make(chan struct{})}
		h := k.Handler(next)
		done := make(chan struct{})
		go func() {
			defer close(done)
			serve(h, post("k", "a"))
		}()
		synctest.Wait()
		w := serve(h, post("k", "a"))
		requireProblem(t, w, http.StatusConflict, "ErrInProgress")
		require.Equal(t, "1", w.Header().Get("Retry-After"))
		close(next.hold)
		<-done
		require.EqualValues(t, 1, next.calls.Load())
		require.EqualValues(t, 1, k.Metrics().InProgress)
	})
}

func TestHandlerMaxWaitWaitsForTheOutcome(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k, _ := newKeys(idempotency.Config{MaxWait: 10 * time.Second})
		next := &counting{hold: make(chan struct{})}
		h := k.Handler(next)
		go serve(h, post("k", "a"))
		synctest.Wait()
		go func() {
			time.Sleep(3 * time.Second)
			close(next.hold)
		}()
		start := time.Now()
		w := serve(h, post("k", "a"))
		require.Equal(t, http.StatusCreated, w.Code)
		require.Equal(t, "true", w.Header().Get(idempotency.ReplayedHeader))
		require.Less(t, time.Since(start), 3*time.Second+300*time.Millisecond, "woke within a poll of the outcome")
		require.EqualValues(t, 1, next.calls.Load())

		// A wait that ends first answers 409 at its end.
		next2 := &counting{hold: make(chan struct{})}
		h2 := k.Handler(next2)
		go serve(h2, post("k2", "a"))
		synctest.Wait()
		start = time.Now()
		w = serve(h2, post("k2", "a"))
		requireProblem(t, w, http.StatusConflict, "ErrInProgress")
		require.Equal(t, 10*time.Second, time.Since(start))
		close(next2.hold)
		synctest.Wait()
	})
}

func TestHandlerMismatch(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{})
	next := &counting{}
	h := k.Handler(next)
	serve(h, post("k", "one"))
	requireProblem(t, serve(h, post("k", "two")), http.StatusUnprocessableEntity, "ErrMismatch")
	other := post("k", "one")
	other.URL.RawQuery = "x=2"
	requireProblem(t, serve(h, other), http.StatusUnprocessableEntity, "ErrMismatch")
	patch := post("k", "one")
	patch.Method = http.MethodPatch
	requireProblem(t, serve(h, patch), http.StatusUnprocessableEntity, "ErrMismatch")
	require.EqualValues(t, 1, next.calls.Load())
	require.EqualValues(t, 3, k.Metrics().Mismatched)
}

func TestHandlerMissingKey(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{})
	next := &counting{}
	h := k.Handler(next)
	require.Equal(t, http.StatusCreated, serve(h, post("", "a")).Code)
	require.Equal(t, http.StatusCreated, serve(h, post("", "a")).Code)
	require.EqualValues(t, 2, next.calls.Load(), "without a key, nothing is guarded")

	required, _ := newKeys(idempotency.Config{KeyRequired: true})
	h = required.Handler(next)
	requireProblem(t, serve(h, post("", "a")), http.StatusBadRequest, "ErrKeyRequired")
	require.EqualValues(t, 2, next.calls.Load())
}

func TestHandlerOtherMethodsPassThrough(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{KeyRequired: true})
	next := &counting{}
	h := k.Handler(next)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodHead} {
		r := post("k", "")
		r.Method = m
		serve(h, r)
	}
	require.EqualValues(t, 4, next.calls.Load())
	put, _ := newKeys(idempotency.Config{Methods: []string{http.MethodPut}})
	h = put.Handler(next)
	r := post("k", "")
	r.Method = http.MethodPut
	serve(h, r)
	r = post("k", "")
	r.Method = http.MethodPut
	require.Equal(t, "true", serve(h, r).Header().Get(idempotency.ReplayedHeader))
}

func TestHandlerInvalidKeys(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{MaxKeyBytes: 16})
	next := &counting{}
	h := k.Handler(next)
	for name, v := range map[string]string{
		"empty quoted":      `""`,
		"blank":             `   `,
		"too long":          strings.Repeat("k", 17),
		"too long quoted":   `"` + strings.Repeat("k", 17) + `"`,
		"space in bare":     "a b",
		"control":           "a\x01b",
		"DEL":               "a\x7fb",
		"non-ASCII":         "clé",
		"non-ASCII quoted":  `"clé"`,
		"unterminated":      `"abc`,
		"after quote":       `"abc"d`,
		"bad escape":        `"a\b"`,
		"trailing escape":   `"a\`,
		"quote inside bare": `a"b`,
		"list":              `"a", "b"`,
	} {
		r := post("", "")
		r.Header["Idempotency-Key"] = []string{v}
		requireProblem(t, serve(h, r), http.StatusBadRequest, "ErrInvalidKey")
		_ = name
	}
	r := post("", "")
	r.Header["Idempotency-Key"] = []string{"a", "b"}
	requireProblem(t, serve(h, r), http.StatusBadRequest, "ErrInvalidKey")
	require.Zero(t, next.calls.Load())
	require.EqualValues(t, 16, k.Metrics().Refused)
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]string{
		`"abc"`:                   "abc",
		"abc":                     "abc",
		` "abc" `:                 "abc",
		`"a b"`:                   "a b",
		`"a\"b\\c"`:               `a"b\c`,
		strings.Repeat("k", 255):  strings.Repeat("k", 255),
		`"8e03978e-40d5-43e8-bc"`: "8e03978e-40d5-43e8-bc",
	} {
		got, err := idempotency.ParseKey(v, idempotency.DefaultMaxKeyBytes)
		require.NoError(t, err, v)
		require.Equal(t, want, got)
	}
	_, err := idempotency.ParseKey(`"a\"b"`, 2)
	require.ErrorIs(t, err, idempotency.ErrInvalidKey, "the bound is on the decoded key: 3 bytes")
	got, err := idempotency.ParseKey(`"a\"b"`, 3)
	require.NoError(t, err)
	require.Equal(t, `a"b`, got)
}

func TestHandlerFailuresAreNotKept(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{})
	fail := true
	next := &counting{fn: func(w http.ResponseWriter, r *http.Request) {
		if fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}}
	h := k.Handler(next)
	require.Equal(t, http.StatusServiceUnavailable, serve(h, post("k", "")).Code)
	fail = false
	require.Equal(t, http.StatusCreated, serve(h, post("k", "")).Code, "a 5xx is not kept: the retry executes")
	require.Equal(t, "true", serve(h, post("k", "")).Header().Get(idempotency.ReplayedHeader))
	require.EqualValues(t, 2, next.calls.Load())

	for _, status := range []int{http.StatusTooManyRequests, http.StatusRequestTimeout, http.StatusInternalServerError} {
		require.False(t, idempotency.DefaultKeep(status), status)
	}
	for _, status := range []int{200, 201, 204, 400, 404, 409, 422} {
		require.True(t, idempotency.DefaultKeep(status), status)
	}

	// Keep can store failures too.
	keepAll, _ := newKeys(idempotency.Config{Keep: func(int) bool { return true }})
	fail = true
	h = keepAll.Handler(next)
	serve(h, post("k", ""))
	fail = false
	w := serve(h, post("k", ""))
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "true", w.Header().Get(idempotency.ReplayedHeader))
}

func TestHandlerCompletedRecordsExpire(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k, _ := newKeys(idempotency.Config{TTL: time.Hour})
		next := &counting{}
		h := k.Handler(next)
		serve(h, post("k", ""))
		time.Sleep(time.Hour - time.Millisecond)
		require.Equal(t, "true", serve(h, post("k", "")).Header().Get(idempotency.ReplayedHeader))
		time.Sleep(time.Millisecond)
		require.Empty(t, serve(h, post("k", "")).Header().Get(idempotency.ReplayedHeader), "after the TTL the key executes again")
		require.EqualValues(t, 2, next.calls.Load())
	})
}

func TestHandlerScopes(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{})
	next := &counting{}
	h := k.Handler(next)
	alice, bob := post("k", "x"), post("k", "x")
	alice.Header.Set("Authorization", "Bearer alice")
	bob.Header.Set("Authorization", "Bearer bob")
	require.Equal(t, "n", serve(h, alice).Header().Get("X-Call"))
	require.Equal(t, "nn", serve(h, bob).Header().Get("X-Call"), "bob's key is not alice's")
	alice2 := post("k", "x")
	alice2.Header.Set("Authorization", "Bearer alice")
	require.Equal(t, "true", serve(h, alice2).Header().Get(idempotency.ReplayedHeader))
	require.EqualValues(t, 2, next.calls.Load())

	byTenant, _ := newKeys(idempotency.Config{Scope: func(r *http.Request) string { return r.Header.Get("X-Tenant") }})
	h = byTenant.Handler(next)
	a, b := post("k", "x"), post("k", "x")
	a.Header.Set("X-Tenant", "a")
	a.Header.Set("Authorization", "Bearer alice")
	b.Header.Set("X-Tenant", "a")
	b.Header.Set("Authorization", "Bearer bob")
	serve(h, a)
	require.Equal(t, "true", serve(h, b).Header().Get(idempotency.ReplayedHeader), "one tenant, one scope")
}

func TestHandlerLargeRequestRefused(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{MaxRequestBytes: 10})
	next := &counting{}
	h := k.Handler(next)
	require.Equal(t, http.StatusCreated, serve(h, post("k", strings.Repeat("b", 10))).Code)
	requireProblem(t, serve(h, post("k2", strings.Repeat("b", 11))), http.StatusRequestEntityTooLarge, "ErrRequestTooLarge")
	r := post("k3", strings.Repeat("b", 11))
	r.ContentLength = -1 // unknown length: read up to the bound
	requireProblem(t, serve(h, r), http.StatusRequestEntityTooLarge, "ErrRequestTooLarge")
	require.EqualValues(t, 1, next.calls.Load())
}

func TestHandlerLargeResponseIsNotExecutedTwice(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{MaxResponseBytes: 100})
	big := strings.Repeat("r", 250)
	next := &counting{fn: func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for i := 0; i < len(big); i += 50 {
			_, _ = w.Write([]byte(big[i : i+50]))
		}
	}}
	h := k.Handler(next)
	w := serve(h, post("k", ""))
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, big, w.Body.String(), "a long response is sent in full")
	requireProblem(t, serve(h, post("k", "")), http.StatusConflict, "ErrNotKept")
	require.EqualValues(t, 1, next.calls.Load())
	require.EqualValues(t, 1, k.Metrics().NotKept)

	// Exactly the bound is kept.
	k2, _ := newKeys(idempotency.Config{MaxResponseBytes: 250})
	h = k2.Handler(next)
	serve(h, post("k", ""))
	require.Equal(t, big, serve(h, post("k", "")).Body.String())
}

func TestHandlerFlushedResponseIsKept(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{})
	next := &counting{fn: func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("part1 "))
		require.NoError(t, http.NewResponseController(w).Flush())
		_, _ = w.Write([]byte("part2"))
	}}
	h := k.Handler(next)
	w := serve(h, post("k", ""))
	require.True(t, w.Flushed)
	require.Equal(t, "part1 part2", w.Body.String())
	require.Equal(t, "part1 part2", serve(h, post("k", "")).Body.String())
}

func TestHandlerPanicReleasesTheKey(t *testing.T) {
	t.Parallel()
	k, st := newKeys(idempotency.Config{})
	boom := true
	next := &counting{fn: func(w http.ResponseWriter, r *http.Request) {
		if boom {
			panic("boom")
		}
		w.WriteHeader(http.StatusCreated)
	}}
	h := k.Handler(next)
	require.PanicsWithValue(t, "boom", func() { serve(h, post("k", "")) })
	require.Zero(t, st.Len(), "released")
	boom = false
	require.Equal(t, http.StatusCreated, serve(h, post("k", "")).Code)
	require.EqualValues(t, 2, next.calls.Load())
}

func TestHandlerLeaseRenewedWhileRunning(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k, _ := newKeys(idempotency.Config{Lease: 3 * time.Second})
		var cause error
		next := &counting{fn: func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(10 * time.Second)
			cause = r.Context().Err()
			w.WriteHeader(http.StatusCreated)
		}}
		h := k.Handler(next)
		done := make(chan struct{})
		go func() {
			defer close(done)
			serve(h, post("k", ""))
		}()
		for range 4 {
			time.Sleep(2 * time.Second)
			requireProblem(t, serve(h, post("k", "")), http.StatusConflict, "ErrInProgress")
		}
		<-done
		require.NoError(t, cause)
		require.Equal(t, "true", serve(h, post("k", "")).Header().Get(idempotency.ReplayedHeader))
		require.EqualValues(t, 1, next.calls.Load())
		require.Zero(t, k.Metrics().LeasesLost)
	})
}

func TestHandlerDeadProcessLeaseRunsOut(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
		frozen := &faultyStore{Store: mem}
		k := idempotency.New(frozen, idempotency.Config{Lease: 30 * time.Second})
		block := make(chan struct{})
		// The dying process: its renewals fail (it is frozen), and it never
		// answers.
		frozen.set(func(f *faultyStore) { f.extend = errors.New("process frozen") })
		go serve(k.Handler(&counting{fn: func(http.ResponseWriter, *http.Request) { <-block }}), post("k", ""))
		synctest.Wait()

		other := idempotency.New(mem, idempotency.Config{Lease: 30 * time.Second})
		next := &counting{}
		h := other.Handler(next)
		time.Sleep(30*time.Second - time.Millisecond)
		requireProblem(t, serve(h, post("k", "")), http.StatusConflict, "ErrInProgress")
		time.Sleep(time.Millisecond)
		require.Equal(t, http.StatusCreated, serve(h, post("k", "")).Code, "the lease ran out: the retry executes")
		require.EqualValues(t, 1, next.calls.Load())
		close(block)
		synctest.Wait()
	})
}

func TestHandlerLeaseLostCancelsTheHandler(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mem := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
		st := &faultyStore{Store: mem}
		k := idempotency.New(st, idempotency.Config{Lease: 3 * time.Second})
		var cause error
		next := &counting{fn: func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
			cause = fmt.Errorf("%w", contextCause(r))
		}}
		st.set(func(f *faultyStore) { f.extend = idempotency.ErrLeaseLost })
		serve(k.Handler(next), post("k", ""))
		require.ErrorIs(t, cause, idempotency.ErrLeaseLost)
		require.EqualValues(t, 1, k.Metrics().LeasesLost)
	})
}

func TestHandlerStoreFailures(t *testing.T) {
	t.Parallel()
	mem := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	st := &faultyStore{Store: mem}
	k := idempotency.New(st, idempotency.Config{})
	next := &counting{}
	h := k.Handler(next)
	st.set(func(f *faultyStore) { f.acquire = errors.New("db down") })
	w := serve(h, post("k", ""))
	requireProblem(t, w, http.StatusServiceUnavailable, "ErrUnavailable")
	require.Equal(t, "1", w.Header().Get("Retry-After"))
	require.Zero(t, next.calls.Load(), "nothing executes when the key cannot be checked")

	// An outcome that cannot be stored is still answered; the key stays
	// held until its lease runs out.
	st.set(func(f *faultyStore) { f.acquire, f.complete = nil, errors.New("db down") })
	require.Equal(t, http.StatusCreated, serve(h, post("k", "")).Code)
	requireProblem(t, serve(h, post("k", "")), http.StatusConflict, "ErrInProgress")
	require.EqualValues(t, 2, k.Metrics().StoreFails)
}

func TestHandlerHammer(t *testing.T) {
	t.Parallel()
	k, _ := newKeys(idempotency.Config{MaxWait: resilience.Forever})
	var mu sync.Mutex
	calls := map[string]int{}
	next := &counting{fn: func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		calls[key]++
		mu.Unlock()
		_, _ = w.Write([]byte(key))
	}}
	h := k.Handler(next)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Sprint("k", (g+i)%16)
				w := serve(h, post(key, "b"))
				assert.Equal(t, key, w.Body.String())
			}
		})
	}
	wg.Wait()
	require.Len(t, calls, 16)
	for key, n := range calls {
		require.Equal(t, 1, n, "key %s executed once", key)
	}
}

func TestNewPanics(t *testing.T) {
	t.Parallel()
	st := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	var typedNil *idempotency.MemoryStore
	for name, f := range map[string]func(){
		"nil store":       func() { idempotency.New(nil, idempotency.Config{}) },
		"typed nil store": func() { idempotency.New(typedNil, idempotency.Config{}) },
		"negative TTL":    func() { idempotency.New(st, idempotency.Config{TTL: -1}) },
		"tiny lease":      func() { idempotency.New(st, idempotency.Config{Lease: time.Millisecond}) },
		"negative wait":   func() { idempotency.New(st, idempotency.Config{MaxWait: -2}) },
		"long keys":       func() { idempotency.New(st, idempotency.Config{MaxKeyBytes: idempotency.MaxKeyBytesLimit + 1}) },
		"negative body":   func() { idempotency.New(st, idempotency.Config{MaxRequestBytes: -1}) },
		"negative resp":   func() { idempotency.New(st, idempotency.Config{MaxResponseBytes: -1}) },
		"nil handler":     func() { idempotency.New(st, idempotency.Config{}).Handler(nil) },
		"memory bounds":   func() { idempotency.NewMemoryStore(idempotency.MemoryConfig{MaxKeys: -1}) },
	} {
		require.Panics(t, f, name)
		func() {
			defer func() {
				require.Contains(t, fmt.Sprint(recover()), "idempotency: ", name)
			}()
			f()
		}()
	}
	require.NotPanics(t, func() { idempotency.New(st, idempotency.Config{MaxWait: resilience.Forever}) })
}
