package kafka_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/resiliencekit/resilience/outbox"
)

// cluster starts an in-process Kafka (kfake) with the given topics of
// partitions partitions each, closed with the test.
func cluster(t testing.TB, partitions int32, topics []string, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...)}, opts...)
	c, err := kfake.NewCluster(opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// client returns a producing client of c, closed with the test.
func client(t testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)
	cl, err := kgo.NewClient(opts...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

// consume reads n records from topics, from the start.
func consume(t testing.TB, c *kfake.Cluster, n int, topics ...string) []*kgo.Record {
	t.Helper()
	cl := client(t, c, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "got %d of %d records", len(out), n)
		fs.EachError(func(topic string, p int32, err error) { require.NoError(t, err, "%s/%d", topic, p) })
		out = append(out, fs.Records()...)
	}
	return out
}

// keyed returns perKey messages for each of keys keys to topic,
// interleaved (k0#0, k1#0, ..., k0#1, ...).
func keyed(topic string, keys, perKey int) []outbox.Message {
	msgs := make([]outbox.Message, 0, keys*perKey)
	for s := range perKey {
		for k := range keys {
			key := "k" + strconv.Itoa(k)
			msgs = append(msgs, outbox.Message{
				ID:      fmt.Sprintf("%s-%s-%d", topic, key, s),
				Topic:   topic,
				Key:     key,
				Payload: fmt.Appendf(nil, "%s/%d", key, s),
			})
		}
	}
	return msgs
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// checkOrder verifies that every message of want arrived and that, per key,
// first arrivals follow the order of want (duplicates ignored) and one
// partition holds the whole key.
func checkOrder(t testing.TB, want []outbox.Message, got []*kgo.Record) {
	t.Helper()
	pos := make(map[string]int, len(want))
	for i, m := range want {
		pos[m.ID] = i
	}
	seen := make(map[string]bool, len(want))
	last := make(map[string]int)
	partition := make(map[string]int32)
	for _, r := range got {
		id := header(r, "Message-Id")
		i, ok := pos[id]
		require.True(t, ok, "unexpected message %q", id)
		key := want[i].Key
		require.Equal(t, key, string(r.Key))
		if p, ok := partition[key]; ok {
			require.Equal(t, p, r.Partition, "key %s in two partitions", key)
		}
		partition[key] = r.Partition
		if seen[id] {
			continue
		}
		seen[id] = true
		if l, ok := last[key]; ok {
			require.Greater(t, i, l, "key %s: %s arrived after a later message", key, id)
		}
		last[key] = i
	}
	require.Len(t, seen, len(want), "messages missing")
}

func allNil(t testing.TB, errs []error) {
	t.Helper()
	for i, err := range errs {
		require.NoError(t, err, "message %d", i)
	}
}
