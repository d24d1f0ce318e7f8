// Package health answers a service's liveness and readiness probes from the
// state of its policies, and drains it on shutdown.
//
// A [Health] holds named checks — an open breaker, a saturated bulkhead,
// an outbox whose backlog, lag or dead letters are over their bounds, a
// cache that answers with stale data older than its bounds, or any
// [Check] of your own — and serves two endpoints with bodies in the
// shape of the IETF draft draft-inadarei-api-health-check
// (application/health+json):
//
//	h := health.New(health.Config{ServiceID: "payments"})
//	h.Add("breaker:ledger", "component", health.Breaker(ledgerBreaker))
//	h.Add("outbox", "datastore", health.Outbox(ob, health.OutboxLimits{MaxLag: time.Minute}))
//	h.Add("cache:users", "component", health.Cache(users, health.CacheLimits{WarnAge: 5 * time.Minute, MaxAge: time.Hour}))
//	mux.Handle("/livez", h.Live())   // 200 while the process serves
//	mux.Handle("/readyz", h.Ready()) // 503 when a check fails or the service drains
//
// A cache's check reads [StaleAger].StaleAge (cache.Cache.StaleAge): the
// age of the oldest value it answered with stale in the last minute or
// two. It grows while the cache's source fails and the cache serves what
// it has (StaleIfError), and it is old at once when a process restored an
// old snapshot (cache.Cache.Load) and its source cannot replace it; a
// cache whose source answers serves values younger than its TTL (plus
// StaleWhileRevalidate), which CacheLimits should allow.
//
// Liveness is kept apart from readiness: a dependency that is down makes
// the service not ready (the load balancer sends its traffic elsewhere),
// never not alive (the orchestrator would restart a process that is fine).
//
// # Draining
//
// [Health.Policy] is a resilience.Policy to put first in the
// resilience.Handler of the service's routes: it counts the requests in
// flight. [Health.Drain], called when the process is told to stop, makes
// readiness answer 503, refuses new requests with 503 and a Retry-After
// (they go to another instance), waits, bounded by its context, for the
// requests in flight to finish, and returns; http.Server.Shutdown then
// finds no request to lose:
//
//	<-stop // SIGTERM
//	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
//	defer cancel()
//	_ = h.Drain(ctx)
//	_ = srv.Shutdown(ctx)
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Status is the status of a check, or of a service as a whole.
type Status string

// The statuses of draft-inadarei-api-health-check. A service is as bad as
// its worst check.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

func (s Status) rank() int {
	switch s {
	case Pass:
		return 0
	case Warn:
		return 1
	}
	return 2 // Fail, or anything unknown
}

// Result is what one check found.
type Result struct {
	// Status is Pass, Warn or Fail; anything else counts as Fail.
	Status Status
	// Output says what is wrong, for a Warn or a Fail.
	Output string
	// ObservedValue and ObservedUnit are what the check measured, such
	// as "open", or 1200 "messages".
	ObservedValue any
	ObservedUnit  string
}

// Check reports the condition of one dependency or part of the service.
// It is called on every readiness probe, with the probe's context: it
// must be quick (read a policy's state, not call the dependency) or cache
// what it measures, as [Outbox] does.
type Check func(ctx context.Context) Result

// Config holds the optional settings of a [Health]. The zero value is
// ready to use.
type Config struct {
	// ServiceID, Version and Description go into every body, as the
	// draft's serviceId, version and description. Zero means none.
	ServiceID, Version, Description string

	// RetryAfter is the wait sent with the 503 of a request refused while
	// the service drains (another instance will take it). Zero means
	// DefaultRetryAfter (one second).
	RetryAfter time.Duration
}

// DefaultRetryAfter is Config.RetryAfter when it is zero.
const DefaultRetryAfter = time.Second

// Health is the health of a service: its checks, its calls in flight and
// whether it drains. Make one with [New]; it is safe for concurrent use.
type Health struct {
	c Config

	mu     sync.Mutex
	checks []named

	draining atomic.Bool
	inFlight atomic.Int64
	idle     chan struct{} // closed by the last call to leave while draining
	idleOnce sync.Once
	refusal  *DrainingError
}

type named struct {
	name, kind string
	check      Check
}

// New returns a Health configured by c, with no check (it passes).
func New(c Config) *Health {
	if c.RetryAfter < 0 {
		panic(fmt.Sprintf("health: negative Config.RetryAfter %v", c.RetryAfter))
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	return &Health{c: c, idle: make(chan struct{}), refusal: &DrainingError{wait: c.RetryAfter}}
}

// Add adds the check c under name, of the draft's componentType kind
// ("component", "datastore", "system", or "" for none). It panics if name
// is empty or taken, or c is nil.
func (h *Health) Add(name, kind string, c Check) {
	if name == "" || c == nil {
		panic("health: Add with an empty name or a nil Check")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if slices.ContainsFunc(h.checks, func(n named) bool { return n.name == name }) {
		panic(fmt.Sprintf("health: check %q added twice", name))
	}
	h.checks = append(h.checks, named{name: name, kind: kind, check: c})
}

// body is the response body, as the draft describes it.
type body struct {
	Status      Status                   `json:"status"`
	Output      string                   `json:"output,omitempty"`
	ServiceID   string                   `json:"serviceId,omitempty"`
	Version     string                   `json:"version,omitempty"`
	Description string                   `json:"description,omitempty"`
	Checks      map[string][]checkResult `json:"checks,omitempty"`
}

type checkResult struct {
	ComponentType string `json:"componentType,omitempty"`
	Status        Status `json:"status"`
	Output        string `json:"output,omitempty"`
	ObservedValue any    `json:"observedValue,omitempty"`
	ObservedUnit  string `json:"observedUnit,omitempty"`
	Time          string `json:"time"`
}

// Report runs every check and returns the readiness body's status and
// checks: Fail while the service drains.
func (h *Health) Report(ctx context.Context) (Status, map[string]Result) {
	status, ran, _ := h.run(ctx)
	results := make(map[string]Result, len(ran))
	for _, r := range ran {
		results[r.name] = r.res
	}
	return status, results
}

// ranCheck is a check's result, with its name and kind.
type ranCheck struct {
	name, kind string
	res        Result
}

// run runs every check and returns the service's status, the checks'
// results and whether the service drains.
func (h *Health) run(ctx context.Context) (Status, []ranCheck, bool) {
	h.mu.Lock()
	checks := slices.Clone(h.checks)
	h.mu.Unlock()
	status := Pass
	ran := make([]ranCheck, 0, len(checks))
	for _, n := range checks {
		r := n.check(ctx)
		if r.Status.rank() == 2 {
			r.Status = Fail
		}
		ran = append(ran, ranCheck{name: n.name, kind: n.kind, res: r})
		if r.Status.rank() > status.rank() {
			status = r.Status
		}
	}
	draining := h.draining.Load()
	if draining {
		status = Fail
	}
	return status, ran, draining
}

// Live returns the liveness handler: 200 with status "pass" for as long as
// the process serves requests, whatever its checks and even while it
// drains (a draining process is alive, and must not be killed before it
// finished).
func (h *Health) Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.write(w, http.StatusOK, body{Status: Pass})
	})
}

// Ready returns the readiness handler: the checks' results, with 200 when
// none fails (a Warn is still ready) and 503 when one does or the service
// drains.
func (h *Health) Ready() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, ran, draining := h.run(r.Context())
		b := body{Status: status, Checks: make(map[string][]checkResult, len(ran))}
		if draining {
			b.Output = "draining"
		}
		now := time.Now().UTC().Format(time.RFC3339Nano)
		for _, c := range ran {
			b.Checks[c.name] = []checkResult{{
				ComponentType: c.kind, Status: c.res.Status, Output: c.res.Output,
				ObservedValue: c.res.ObservedValue, ObservedUnit: c.res.ObservedUnit, Time: now,
			}}
		}
		code := http.StatusOK
		if status == Fail {
			code = http.StatusServiceUnavailable
		}
		h.write(w, code, b)
	})
}

func (h *Health) write(w http.ResponseWriter, code int, b body) {
	b.ServiceID, b.Version, b.Description = h.c.ServiceID, h.c.Version, h.c.Description
	data, err := json.Marshal(b)
	if err != nil { // an ObservedValue that does not marshal
		b.Checks, b.Status, b.Output = nil, Fail, "health: "+err.Error()
		data, _ = json.Marshal(b)
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/health+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

// ErrDraining is matched (with errors.Is) by the error of a call that
// [Health.Policy] refused because the service drains.
var ErrDraining = errors.New("health: draining")

// DrainingError is the error of a call refused while the service drains:
// a local rejection that resilience.Handler answers with 503 and
// Retry-After (Config.RetryAfter). It is immutable and shared.
type DrainingError struct{ wait time.Duration }

func (e *DrainingError) Error() string { return "health: draining: try another instance" }

// Is reports whether target is ErrDraining.
func (e *DrainingError) Is(target error) bool { return target == ErrDraining }

// RetryAfter returns Config.RetryAfter.
func (e *DrainingError) RetryAfter() time.Duration { return e.wait }

// HTTPStatus returns 503.
func (e *DrainingError) HTTPStatus() int { return http.StatusServiceUnavailable }

// LocalRejection returns true: the call never started.
func (e *DrainingError) LocalRejection() bool { return true }

// Policy returns the policy that counts the calls in flight for Drain:
// put it first in the service's resilience.Handler (or around any work
// Drain should wait for). While the service drains it refuses new calls
// with a *DrainingError; the calls already in flight go on.
func (h *Health) Policy() *Gate { return &Gate{h: h} }

// Gate is the policy of [Health.Policy].
type Gate struct{ h *Health }

// Do calls op unless the service drains, counting it in flight meanwhile.
func (g *Gate) Do(ctx context.Context, op func(context.Context) error) error {
	h := g.h
	h.inFlight.Add(1)
	if h.draining.Load() {
		h.leave()
		return h.refusal
	}
	defer h.leave()
	return op(ctx)
}

func (h *Health) leave() {
	if h.inFlight.Add(-1) == 0 && h.draining.Load() {
		h.idleOnce.Do(func() { close(h.idle) })
	}
}

// InFlight returns how many calls are in flight through Policy.
func (h *Health) InFlight() int { return int(h.inFlight.Load()) }

// Draining reports whether Drain was called.
func (h *Health) Draining() bool { return h.draining.Load() }

// Drain makes the service not ready and refuse new calls through Policy,
// then waits until the calls in flight have finished or ctx is done, and
// returns nil or ctx's error (the calls still in flight go on). It may be
// called more than once; the service never becomes ready again.
func (h *Health) Drain(ctx context.Context) error {
	h.draining.Store(true)
	if h.inFlight.Load() == 0 {
		h.idleOnce.Do(func() { close(h.idle) })
	}
	select {
	case <-h.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
