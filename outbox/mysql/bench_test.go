package mysql_test

import (
	"fmt"
	"testing"

	"github.com/resiliencekit/resilience/outbox/outboxtest"
)

// BenchmarkOutboxRelay: one relay draining a backlog from MariaDB into
// the in-process publisher.
func BenchmarkOutboxRelay(b *testing.B) {
	for _, batch := range []int{100, 500} {
		b.Run(fmt.Sprintf("mariadb-batch%d/resilience", batch), func(b *testing.B) {
			outboxtest.BenchRelay(b, suite(b), batch)
		})
	}
}
