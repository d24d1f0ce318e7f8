package outboxtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
)

// BenchRelay measures how fast one relay with the given batch size drains
// a backlog of b.N messages (over 100 keys, 128-byte payloads) into a
// MemoryPublisher: the database side of the relay alone. ns/op is per
// message; it also reports msgs/s.
func BenchRelay(b *testing.B, s Suite, batch int) {
	db, err := s.Open(s.DSN)
	require.NoError(b, err)
	defer db.Close()
	table := Table("bench")
	ob := outbox.New(db, outbox.Config{Dialect: s.Dialect, Table: table})
	require.NoError(b, ob.Migrate(context.Background()))
	defer dropTables(db, s.Dialect, table)
	e := &env{s: s, db: db, ob: ob}
	for start := 0; start < b.N; start += 1000 {
		msgs := make([]outbox.Message, 0, 1000)
		for i := start; i < min(start+1000, b.N); i++ {
			msgs = append(msgs, outbox.Message{Topic: "bench", Key: fmt.Sprintf("key%03d", i%100), Payload: make([]byte, 128)})
		}
		e.add(b, msgs...)
	}
	pub := outbox.NewMemoryPublisher()
	r := outbox.NewRelay(ob, pub, outbox.RelayConfig{BatchSize: batch, PollInterval: 10 * time.Millisecond})
	b.ResetTimer()
	start := time.Now()
	stop := runRelay(r)
	_, err = pub.Wait(context.Background(), b.N)
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	require.NoError(b, err)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}
