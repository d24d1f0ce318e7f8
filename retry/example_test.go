package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/retry"
)

func Example() {
	r := retry.New(retry.Config{
		MaxRetries:   3,
		InitialDelay: time.Millisecond, // 1 ms, 2 ms, 4 ms, with full jitter
		OnRetry: func(_ context.Context, attempt int, err error, _ time.Duration) {
			fmt.Printf("attempt %d failed: %v\n", attempt, err)
		},
	})
	calls := 0
	err := r.Do(context.Background(), func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("connection reset")
		}
		return nil
	})
	fmt.Println("err:", err)
	// Output:
	// attempt 1 failed: connection reset
	// attempt 2 failed: connection reset
	// err: <nil>
}

// Retry around an http.Client: resilience.Transport turns 503 answers into
// failures the Retry sees, and gives the caller an ordinary response.
func Example_httpClient() {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	r := retry.New(retry.Config{InitialDelay: time.Millisecond})
	client := &http.Client{Transport: resilience.Transport(nil, r)}

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), "after", hits.Load(), "attempts")
	// Output: 200 hello after 3 attempts
}

// Two Retry for one downstream share a budget: once that downstream keeps
// failing, calls through either of them make one attempt each instead of
// four, so the retries cannot pile onto the outage.
func Example_budget() {
	budget := retry.NewTokenBudget(10, 0.1) // no retries at 5 tokens or fewer
	reads := retry.New(retry.Config{InitialDelay: time.Millisecond, Budget: budget})
	writes := retry.New(retry.Config{InitialDelay: time.Millisecond, Budget: budget})

	down := func(context.Context) error { return errors.New("unavailable") }
	for i, r := range []*retry.Retry{reads, writes, reads, writes} {
		err := r.Do(context.Background(), down)
		var ex *retry.ExhaustedError
		errors.As(err, &ex)
		fmt.Printf("call %d: attempts=%d (%v), %.0f tokens left\n", i+1, ex.Attempts, ex.Reason, budget.Tokens())
	}
	// Output:
	// call 1: attempts=4 (max retries), 6 tokens left
	// call 2: attempts=1 (budget exhausted), 5 tokens left
	// call 3: attempts=1 (budget exhausted), 4 tokens left
	// call 4: attempts=1 (budget exhausted), 3 tokens left
}

// A user backoff.BackOff: Config.Backoff makes one for each call that
// needs retries. A stateless backoff can be shared by all calls.
func Example_backoff() {
	constant := backoff.NewConstantBackOff(2 * time.Millisecond)
	r := retry.New(retry.Config{
		Backoff: func() backoff.BackOff { return constant },
		Jitter:  retry.JitterNone,
		OnRetry: func(_ context.Context, attempt int, _ error, delay time.Duration) {
			fmt.Printf("retry %d in %v\n", attempt, delay)
		},
	})
	err := r.Do(context.Background(), func(context.Context) error { return errors.New("flaky") })
	fmt.Println(errors.Is(err, retry.ErrExhausted), err)
	// Output:
	// retry 1 in 2ms
	// retry 2 in 2ms
	// retry 3 in 2ms
	// true retry: exhausted after 4 attempts (max retries): flaky
}

// Errors marked permanent are returned at once.
func Example_permanent() {
	r := retry.New(retry.Config{})
	calls := 0
	err := r.Do(context.Background(), func(context.Context) error {
		calls++
		return resilience.Permanent(errors.New("invalid argument"))
	})
	fmt.Println(calls, err)
	// Output: 1 invalid argument
}

// The presets are Configs to adjust.
func ExampleInteractive() {
	c := retry.Interactive()
	c.OnRetry = func(_ context.Context, attempt int, err error, _ time.Duration) { fmt.Println("retry after", err) }
	r := retry.New(c)

	// A rate limit asking for 30 s is longer than a person should wait:
	// Interactive gives up at once instead of sleeping.
	err := r.Do(context.Background(), func(context.Context) error {
		return &resilience.StatusError{Code: http.StatusTooManyRequests, Wait: 30 * time.Second}
	})
	var ex *retry.ExhaustedError
	errors.As(err, &ex)
	fmt.Println(ex.Attempts, ex.Reason)
	// Output: 1 retry-after too long
}

func ExampleBackground() {
	c := retry.Background()
	fmt.Println(c.MaxRetries, c.InitialDelay, c.MaxDelay, c.MaxElapsed, c.Jitter)
	// Output: 10 1s 5m0s 15m0s full
}

func ExampleNewRatioBudget() {
	// At most 10 % of calls retried, plus 1 retry per second, over 10 s.
	budget := retry.NewRatioBudget(retry.RatioConfig{Ratio: 0.1, MinPerSecond: 1})
	for range 100 {
		budget.Request()
	}
	n := 0
	for budget.Withdraw() {
		n++
	}
	fmt.Println(n, "retries allowed")
	// Output: 20 retries allowed
}

// Delay gives the wait before retry n when the count of failures is kept
// elsewhere, such as in the row of a job that failed: here 1 s, 2 s,
// 4 s, … up to 1 min (without jitter, so that the output is exact).
func ExampleRetry_Delay() {
	r := retry.New(retry.Config{
		InitialDelay: time.Second,
		MaxDelay:     time.Minute,
		Jitter:       retry.JitterNone,
	})
	for _, failures := range []int{1, 2, 3, 7, 100} {
		d, _ := r.Delay(failures)
		fmt.Printf("after failure %d: run again in %v\n", failures, d)
	}
	// Output:
	// after failure 1: run again in 1s
	// after failure 2: run again in 2s
	// after failure 3: run again in 4s
	// after failure 7: run again in 1m0s
	// after failure 100: run again in 1m0s
}

// A loop that retries on its own terms waits the delays of a Schedule.
func ExampleRetry_Schedule() {
	r := retry.New(retry.Config{
		InitialDelay: time.Millisecond,
		Multiplier:   3,
		Jitter:       retry.JitterNone,
	})
	attempts := 0
	connect := func() error {
		attempts++
		if attempts < 4 {
			return errors.New("connection refused")
		}
		return nil
	}

	s := r.Schedule()
	for err := connect(); err != nil; err = connect() {
		d, _ := s.Next() // the built-in backoff never says stop
		fmt.Printf("%v; again in %v\n", err, d)
		time.Sleep(d)
	}
	fmt.Println("connected after", attempts, "attempts")
	// Output:
	// connection refused; again in 1ms
	// connection refused; again in 3ms
	// connection refused; again in 9ms
	// connected after 4 attempts
}

// errCircuitOpen and circuitOpen stand for an open breaker's sentinel and
// error: a LocalRejection method saying true makes it a local rejection.
var errCircuitOpen = errors.New("circuit open")

type circuitOpen struct{ wait time.Duration }

func (e circuitOpen) Error() string             { return "circuit open" }
func (e circuitOpen) Is(target error) bool      { return target == errCircuitOpen }
func (e circuitOpen) LocalRejection() bool      { return true }
func (e circuitOpen) RetryAfter() time.Duration { return e.wait }

// A local rejection, such as an open breaker's, ends the retry at once,
// without waiting for its RetryAfter (Config.WaitOnRejection would), and
// its sentinel still matches.
func Example_localRejection() {
	r := retry.New(retry.Config{})
	calls := 0
	err := r.Do(context.Background(), func(context.Context) error {
		calls++
		return circuitOpen{wait: 5 * time.Second} // the next probe, in 5 s
	})
	var ex *retry.ExhaustedError
	errors.As(err, &ex)
	fmt.Println(calls, ex.Reason, errors.Is(err, errCircuitOpen))
	fmt.Println(err)
	// Output:
	// 1 rejected locally true
	// retry: exhausted after 1 attempt (rejected locally): circuit open
}

// resilience.None says "no retries": the operation is called once.
func Example_noRetries() {
	r := retry.New(retry.Config{MaxRetries: resilience.None})
	calls := 0
	err := r.Do(context.Background(), func(context.Context) error {
		calls++
		return errors.New("unavailable")
	})
	fmt.Println(calls, err)
	// Output: 1 retry: exhausted after 1 attempt (max retries): unavailable
}
