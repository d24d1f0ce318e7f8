package outboxtest

import (
	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/internal/observetest"
)

// published returns the sum of the Counts of the EventPublish that obs
// recorded so far.
func published(obs *observetest.Log) int {
	n := 0
	for _, e := range obs.Of(resilience.EventPublish) {
		n += e.Count
	}
	return n
}
