package sqlite_test

import (
	"fmt"
	"testing"

	"github.com/resiliencekit/resilience/outbox/outboxtest"
)

// BenchmarkOutboxRelay: one relay draining a backlog from a SQLite file
// into the in-process publisher.
func BenchmarkOutboxRelay(b *testing.B) {
	for _, batch := range []int{100, 500} {
		b.Run(fmt.Sprintf("sqlite-batch%d/resilience", batch), func(b *testing.B) {
			outboxtest.BenchRelay(b, suite(b.TempDir()), batch)
		})
	}
}
