package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/postgres"
)

// fill adds n messages over 100 keys, a thousand per transaction.
func fill(b *testing.B, ob *outbox.Outbox, n int) {
	b.Helper()
	for start := 0; start < n; start += 1000 {
		batch := make([]outbox.Message, 0, 1000)
		for i := start; i < min(start+1000, n); i++ {
			batch = append(batch, outbox.Message{Topic: "bench", Key: fmt.Sprintf("key%03d", i%100), Payload: make([]byte, 128)})
		}
		add(b, ob, batch...)
	}
}

// BenchmarkOutboxRelay measures how fast one relay drains a backlog of
// b.N messages from PostgreSQL into the in-process publisher: the cost of
// claiming, leasing and acknowledging, without a broker. ns/op is per
// message; msgs/s is reported too.
func BenchmarkOutboxRelay(b *testing.B) {
	for _, batch := range []int{100, 500, 1000} {
		b.Run(fmt.Sprintf("postgres-batch%d/resilience", batch), func(b *testing.B) {
			ob := setup(b, suite(b).DSN)
			fill(b, ob, b.N)
			pub := outbox.NewMemoryPublisher()
			r := outbox.NewRelay(ob, pub, outbox.RelayConfig{BatchSize: batch, PollInterval: 10 * time.Millisecond})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			b.ResetTimer()
			start := time.Now()
			go func() {
				defer close(done)
				_ = r.Run(ctx)
			}()
			_, err := pub.Wait(context.Background(), b.N)
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			<-done
			require.NoError(b, err)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}

// BenchmarkOutboxLatency measures commit-to-publish latency, one message
// at a time: from just before Commit to the publisher's call, with the
// relay woken by LISTEN/NOTIFY (polling every 5 s as a fallback) or
// polling every 100 ms, for messages committed at random moments. It
// reports the median and the 99th percentile.
func BenchmarkOutboxLatency(b *testing.B) {
	for _, mode := range []string{"notify", "poll100ms"} {
		b.Run(mode+"/resilience", func(b *testing.B) {
			dsn := suite(b).DSN
			ob := setup(b, dsn)
			got := make(chan time.Time, 1)
			pub := outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
				got <- time.Now()
				return nil
			})
			c := outbox.RelayConfig{PollInterval: 100 * time.Millisecond}
			if mode == "notify" {
				n := postgres.NewNotifier(dsn, ob.Table(), postgres.NotifierConfig{})
				start(b, n.Run)
				listening(b, n)
				c = outbox.RelayConfig{Notifier: n, PollInterval: 5 * time.Second}
			}
			r := outbox.NewRelay(ob, pub, c)
			start(b, r.Run)
			time.Sleep(50 * time.Millisecond)
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				// Messages arrive at random moments, not right after the
				// previous one was published (when a polling relay has
				// just gone to sleep).
				b.StopTimer()
				time.Sleep(rand.N(100 * time.Millisecond))
				b.StartTimer()
				tx, err := ob.DB().BeginTx(ctx, nil)
				require.NoError(b, err)
				require.NoError(b, ob.Add(ctx, tx, outbox.Message{Topic: "bench", Key: "k"}))
				t0 := time.Now()
				require.NoError(b, tx.Commit())
				lat = append(lat, (<-got).Sub(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
