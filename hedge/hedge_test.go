package hedge_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
)

// A fixed delay: a first attempt slower than the delay gets a hedge, which
// wins, and the first attempt is cancelled with ErrLost and waited for; one
// faster than the delay gets none.
func TestFixedDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		steps      []step
		want       int // the attempt whose value Do returns
		wantAt     time.Duration
		wantStarts []time.Duration
		wantCauses []error
	}{
		{"fast first: no hedge", []step{{latency: ms(5)}}, 0, ms(5), []time.Duration{0}, []error{nil}},
		{"slow first: the hedge wins", []step{{latency: ms(100)}, {latency: ms(10)}}, 1, ms(30),
			[]time.Duration{0, ms(20)}, []error{hedge.ErrLost, nil}},
		{"slow first still wins", []step{{latency: ms(25)}, {latency: ms(10)}}, 0, ms(25),
			[]time.Duration{0, ms(20)}, []error{nil, hedge.ErrLost}},
		{"just under the delay: no hedge", []step{{latency: ms(19)}}, 0, ms(19), []time.Duration{0}, []error{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := hedge.New(hedge.Config{Delay: ms(20)})
				s := newScript(tt.steps...)
				start := time.Now()
				v, err := resilience.Do(t.Context(), h, s.op)
				require.NoError(t, err)
				assert.Equal(t, tt.want, v, "the winner's value")
				assert.Equal(t, tt.wantAt, time.Since(start))
				assert.Equal(t, tt.wantStarts, s.startTimes())
				assert.Equal(t, tt.wantCauses, s.causesSeen())
				assert.Zero(t, s.active.Load(), "every attempt returned before Do")
			})
		})
	}
}
