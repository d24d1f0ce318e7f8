package header_test

import (
	"fmt"
	"time"

	"github.com/resiliencekit/resilience/ratelimit/header"
)

func ExampleParseRateLimit() {
	limits, err := header.ParseRateLimit(`"default";r=0;t=17`)
	if err != nil {
		panic(err)
	}
	for _, l := range limits {
		fmt.Printf("%s: %d left, resets in %v\n", l.Name, l.Remaining, l.Reset)
	}
	// Output:
	// default: 0 left, resets in 17s
}

func ExampleAppendRateLimitPolicy() {
	b := header.AppendRateLimitPolicy(nil, header.QuotaPolicy{Name: "default", Quota: 100, Window: time.Minute})
	fmt.Println(string(b))
	// Output:
	// "default";q=100;w=60
}
