package retry_test

import (
	"testing"
	"time"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/resiliencetest"
	"github.com/resiliencekit/resilience/retry"
)

// The contract of resilience.Policy, checked by the kit on retries with
// the defaults, the presets, a budget and retries that wait on rejections.
func TestContractKit(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]func() retry.Config{
		"defaults":    func() retry.Config { return retry.Config{} },
		"interactive": retry.Interactive,
		"background":  retry.Background,
		"no jitter":   func() retry.Config { return retry.Config{MaxRetries: 5, Jitter: retry.JitterNone} },
		"token budget": func() retry.Config {
			return retry.Config{MaxRetries: 4, Budget: retry.NewTokenBudget(10, 0.5)}
		},
		"no retry": func() retry.Config { return retry.Config{MaxRetries: resilience.None} },
		"max elapsed": func() retry.Config {
			return retry.Config{MaxRetries: 100, MaxElapsed: time.Second}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resiliencetest.Run(t, func() resilience.Policy { return retry.New(cfg()) }, resiliencetest.Config{})
		})
	}
}
