package hedge_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/hedge"
	"github.com/resiliencekit/resilience/retry"
	"github.com/resiliencekit/resilience/timelimit"
)

// replica is a store whose first request to arrive never gets an answer:
// the other attempt (the hedge, 10 ms later) gets it, and the stuck one is
// cancelled.
type replica struct{ calls atomic.Int32 }

func (r *replica) Get(ctx context.Context, key string) (string, error) {
	if r.calls.Add(1) == 1 {
		<-ctx.Done() // a replica stuck in a pause
		return "", context.Cause(ctx)
	}
	return "value of " + key, nil
}

// A hedged read: the first attempt is stuck, the hedge answers. The value
// is the winner's.
func Example() {
	store := &replica{}
	h := hedge.New(hedge.Config{Delay: 10 * time.Millisecond})
	v, err := resilience.Do(context.Background(), h, func(ctx context.Context) (string, error) {
		return store.Get(ctx, "user:42")
	})
	fmt.Println(v, err)
	m := h.Metrics()
	fmt.Printf("calls %d, hedges %d\n", m.Calls, m.Hedges)
	// Output:
	// value of user:42 <nil>
	// calls 1, hedges 1
}

// The usual chain: a retry outside the hedge, sharing its Budget (the
// retry counts the calls), and the policies of each attempt inside.
func Example_chain() {
	budget := retry.NewRatioBudget(retry.RatioConfig{Ratio: 0.1})
	b := breaker.New(breaker.Config{})
	defer b.Close()
	h := hedge.New(hedge.Config{Budget: budget, BudgetCountedByRetry: true, Delay: 10 * time.Millisecond})
	p := resilience.Chain(
		retry.New(retry.Config{Budget: budget}),
		h,
		b,
		timelimit.New(time.Second, timelimit.Config{}),
	)
	store := &replica{}
	v, err := resilience.Do(context.Background(), p, func(ctx context.Context) (string, error) {
		return store.Get(ctx, "user:42")
	})
	fmt.Println(v, err)
	// The stuck attempt was cancelled: the breaker ignored it.
	fmt.Printf("breaker: %d calls, %d ignored\n", b.Metrics().Calls, b.Metrics().Ignored)
	// Output:
	// value of user:42 <nil>
	// breaker: 1 calls, 1 ignored
}

// An http.Client whose GETs are hedged: the first request hangs, the
// second answers, and the caller reads the winner's body. A POST without
// an Idempotency-Key would be sent once.
func Example_transport() {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done() // the hedge won: the client gave this one up
			return
		}
		fmt.Fprint(w, "fresh answer")
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()

	h := hedge.New(hedge.Config{Delay: 20 * time.Millisecond})
	client := &http.Client{Transport: resilience.Transport(tr, h)}
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 200 fresh answer
}

// A failure worth another attempt starts the next hedge at once; the
// error of the last attempt to fail is returned when all fail.
func ExampleHedge_Do() {
	var calls atomic.Int32
	h := hedge.New(hedge.Config{MaxHedges: 2, Delay: time.Hour})
	err := h.Do(context.Background(), func(context.Context) error {
		return fmt.Errorf("attempt %d: %w", calls.Add(1), errUnavailable)
	})
	fmt.Println(err, errors.Is(err, errUnavailable))
	fmt.Printf("hedges on failure: %d\n", h.Metrics().HedgesOnFailure)
	// Output:
	// attempt 3: unavailable true
	// hedges on failure: 2
}

var errUnavailable = errors.New("unavailable")

// The adaptive delay in force: MaxDelay until MinSamples successful
// attempts, then the quantile of their latency.
func ExampleHedge_Delay() {
	h := hedge.New(hedge.Config{MaxDelay: 500 * time.Millisecond})
	fmt.Println(h.Delay())
	// Output:
	// 500ms
}

// OnHedge sees each hedge before it starts, with the failure that started
// it, or nil when the delay passed.
func ExampleConfig_onHedge() {
	h := hedge.New(hedge.Config{
		Delay: 10 * time.Millisecond,
		OnHedge: func(ctx context.Context, n int, err error) {
			fmt.Printf("hedge %d after %v\n", n, err)
		},
	})
	store := &replica{}
	_, _ = resilience.Do(context.Background(), h, func(ctx context.Context) (string, error) {
		return store.Get(ctx, "k")
	})
	// Output:
	// hedge 1 after <nil>
}
