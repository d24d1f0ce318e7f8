package idempotency_test

import (
	"testing"

	"github.com/resiliencekit/resilience/idempotency"
	"github.com/resiliencekit/resilience/idempotency/idempotencytest"
)

func TestMemoryStoreConformance(t *testing.T) {
	t.Parallel()
	idempotencytest.Run(t, idempotencytest.Suite{
		New: func(testing.TB) idempotency.Store {
			return idempotency.NewMemoryStore(idempotency.MemoryConfig{MaxBytes: 4 << 20})
		},
		MaxOutcomeBytes: 1 << 20,
	})
}
