package bandwidth_test

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/resiliencekit/resilience/bandwidth"
	"github.com/resiliencekit/resilience/ratelimit"
)

func ExampleNewReader() {
	// At most 64 KiB per second, in chunks of up to 16 KiB.
	l := ratelimit.New(64<<10, 16<<10, ratelimit.Config{})
	r := bandwidth.NewReader(context.Background(), strings.NewReader("a small payload"), l)
	b, _ := io.ReadAll(r)
	fmt.Println(string(b))
	// Output:
	// a small payload
}
