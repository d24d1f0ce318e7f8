package mysql_test

import (
	"testing"

	"github.com/resiliencekit/resilience/outbox/outboxtest"
)

func TestConformance(t *testing.T) {
	outboxtest.Run(t, suite(t))
}
