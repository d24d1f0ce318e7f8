package retry_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// errTransient is the failure used by most tests.
var errTransient = errors.New("transient")

// constSource is a rand.Source that always returns the same number, so that
// every draw of Float64 is the same u.
type constSource uint64

func (s constSource) Uint64() uint64 { return uint64(s) }

// fixedRand returns a generator whose Float64 always returns u (exact for
// multiples of 2^-53).
func fixedRand(u float64) *rand.Rand {
	return rand.New(constSource(uint64(u * (1 << 53))))
}

// failing returns an op that fails n times with err, then succeeds, and a
// counter of its calls.
func failing(n int, err error) (func(context.Context) error, *atomic.Int64) {
	var calls atomic.Int64
	return func(context.Context) error {
		if calls.Add(1) <= int64(n) {
			return err
		}
		return nil
	}, &calls
}

// delays records the delays OnRetry reports.
type delays struct{ got []time.Duration }

func (d *delays) onRetry(_ context.Context, _ int, _ error, delay time.Duration) {
	d.got = append(d.got, delay)
}

func ms(v ...float64) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x * float64(time.Millisecond))
	}
	return out
}
