package hedge_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/hedge"
	"github.com/resiliencekit/resilience/internal/observetest"
	"github.com/resiliencekit/resilience/retry"
)

// Invalid configurations panic in New with a "hedge: ..." message.
func TestConfigPanics(t *testing.T) {
	t.Parallel()
	var nilRatio *retry.RatioBudget
	tests := []struct {
		name string
		c    hedge.Config
		want string
	}{
		{"negative MaxHedges", hedge.Config{MaxHedges: -2}, "hedge: negative MaxHedges -2 (resilience.None: no hedge)"},
		{"MaxHedges above the limit", hedge.Config{MaxHedges: 11}, "hedge: MaxHedges 11 above MaxHedgesLimit (10)"},
		{"negative Delay", hedge.Config{Delay: -time.Second}, "hedge: negative Delay -1s"},
		{"Quantile with a fixed Delay", hedge.Config{Delay: time.Second, Quantile: 0.9},
			"hedge: Quantile, MinDelay, MaxDelay and Window shape the adaptive delay, which a fixed Delay replaces"},
		{"MaxDelay with a fixed Delay", hedge.Config{Delay: time.Second, MaxDelay: time.Second},
			"hedge: Quantile, MinDelay, MaxDelay and Window shape the adaptive delay, which a fixed Delay replaces"},
		{"Quantile 1", hedge.Config{Quantile: 1}, "hedge: Quantile 1 not in (0, 1)"},
		{"negative Quantile", hedge.Config{Quantile: -0.5}, "hedge: Quantile -0.5 not in (0, 1)"},
		{"negative MinDelay", hedge.Config{MinDelay: -1}, "hedge: negative MinDelay -1ns"},
		{"negative MaxDelay", hedge.Config{MaxDelay: -1}, "hedge: negative MaxDelay -1ns"},
		{"negative Window", hedge.Config{Window: -1}, "hedge: negative Window -1ns"},
		{"MinDelay above MaxDelay", hedge.Config{MinDelay: time.Second, MaxDelay: time.Millisecond},
			"hedge: MinDelay 1s above MaxDelay 1ms (zero means the defaults: 1ms and 1s)"},
		{"MinDelay above the default MaxDelay", hedge.Config{MinDelay: 2 * time.Second},
			"hedge: MinDelay 2s above MaxDelay 1s (zero means the defaults: 1ms and 1s)"},
		{"typed nil Budget", hedge.Config{Budget: nilRatio}, "hedge: Budget is a nil *retry.RatioBudget"},
		{"BudgetCountedByRetry without Budget", hedge.Config{BudgetCountedByRetry: true}, "hedge: BudgetCountedByRetry without a Budget"},
		{"typed nil Observer", hedge.Config{Observer: (*observetest.Log)(nil)}, "hedge: Observer is a nil *observetest.Log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.PanicsWithValue(t, tt.want, func() { hedge.New(tt.c) })
		})
	}
}

// Zero fields mean the documented defaults.
func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		c         hedge.Config
		wantDelay time.Duration
	}{
		{"zero: adaptive, MaxDelay until MinSamples", hedge.Config{}, hedge.DefaultMaxDelay},
		{"a MaxDelay of its own", hedge.Config{MaxDelay: 300 * time.Millisecond}, 300 * time.Millisecond},
		{"fixed", hedge.Config{Delay: 42 * time.Millisecond}, 42 * time.Millisecond},
		{"no hedge", hedge.Config{MaxHedges: resilience.None}, 0},
		{"the most hedges", hedge.Config{MaxHedges: hedge.MaxHedgesLimit, Delay: time.Second}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := hedge.New(tt.c)
			assert.Equal(t, tt.wantDelay, h.Delay())
			assert.True(t, h.CallsOpConcurrently())
			assert.Equal(t, hedge.Metrics{}, h.Metrics())
		})
	}
	assert.Equal(t, "search", hedge.New(hedge.Config{Name: "search"}).Name())
	assert.Equal(t, 1, hedge.DefaultMaxHedges)
	assert.Equal(t, 0.95, hedge.DefaultQuantile)
	assert.Equal(t, time.Millisecond, hedge.DefaultMinDelay)
	assert.Equal(t, time.Minute, hedge.DefaultWindow)
	assert.Equal(t, 20, hedge.MinSamples)
}
