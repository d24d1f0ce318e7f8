package chaos_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/chaos"
)

// One downstream host turns slow: chaos delays its answers by a minute.
// A bulkhead per host lets two calls wait on it; the third fails fast with
// bulkhead.ErrFull, and calls to another host are not held up. The slow
// calls end when their callers give up.
func Example_bulkheadUnderSlowDependency() {
	api := chaos.InProcess(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
	slowing := make(chan struct{}, 2)
	deps := chaos.New(chaos.Config{
		OnInject: func(context.Context, chaos.Kind, chaos.Call) { slowing <- struct{}{} }, // a call starts its wait
	}, chaos.Fault{
		Match: chaos.Host("reports.test"),
		Delay: chaos.Fixed(time.Minute),
	}).Transport(api)
	client := &http.Client{Transport: resilience.Transport(deps, bulkhead.NewGroup(2, bulkhead.GroupConfig{}))}
	get := func(ctx context.Context, url string) string {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		return resp.Status
	}

	ctx, giveUp := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	results := make([]string, 2)
	for n := range 2 {
		wg.Go(func() { results[n] = get(ctx, "http://reports.test/daily") })
	}
	<-slowing
	<-slowing // both hold a permit of reports.test
	fmt.Println(get(context.Background(), "http://reports.test/daily"))
	fmt.Println(get(context.Background(), "http://orders.test/orders/42"))
	giveUp()
	wg.Wait()
	fmt.Println(results[0])
	fmt.Println(results[1])
	// Output:
	// Get "http://reports.test/daily": bulkhead: full: 2 calls in flight
	// 200 OK
	// Get "http://reports.test/daily": context canceled
	// Get "http://reports.test/daily": context canceled
}
