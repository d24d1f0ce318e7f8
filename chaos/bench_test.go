package chaos_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/chaos"
)

// The cost of an injector left in a production path: switched off, and
// switched on with faults that do not apply to the call. Run with
// go test -run '^$' -bench . -benchmem ./chaos/
func BenchmarkDo(b *testing.B) {
	op := func(context.Context) error { return nil }
	ctx := context.Background()
	faults := []chaos.Fault{
		{Match: chaos.Key("other"), Action: chaos.Status(503)},
		{When: chaos.Rate(0, 1), Action: chaos.ConnReset()},
	}
	cases := []struct {
		name string
		p    resilience.Policy
	}{
		{"baseline", resilience.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })},
		{"disabled", chaos.New(chaos.Config{Disabled: true}, faults...)},
		{"no fault applies", chaos.Policy(faults...)},
		{"inject error", chaos.Policy(chaos.Fault{Action: chaos.Error(chaos.ErrInjected)})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = c.p.Do(ctx, op)
			}
		})
	}
}

func BenchmarkTransport(b *testing.B) {
	resp := &http.Response{StatusCode: 200, Body: http.NoBody}
	next := rtFunc(func(*http.Request) (*http.Response, error) { return resp, nil })
	req, _ := http.NewRequest("GET", "http://api.test/v1/orders/1", nil)
	faults := []chaos.Fault{
		{Match: chaos.Method("POST"), Action: chaos.Status(503)},
		{Match: chaos.Path("/v2/*"), Action: chaos.ConnReset()},
	}
	cases := []struct {
		name string
		rt   http.RoundTripper
	}{
		{"baseline", next},
		{"disabled", chaos.New(chaos.Config{Disabled: true}, faults...).Transport(next)},
		{"no fault applies", chaos.Transport(next, faults...)},
		{"inject status", chaos.Transport(next, chaos.Fault{Action: chaos.Status(503)})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, _ := c.rt.RoundTrip(req)
				_ = r.Body.Close()
			}
		})
	}
}
