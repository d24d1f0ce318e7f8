package outboxtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/outbox"
)

// testConnectionLoss: the relay's connections go through a proxy that
// cuts them all and refuses new ones for a second and a half, twice, while
// messages flow: the relay recovers by itself and every message arrives,
// in order per key.
func testConnectionLoss(t *testing.T, s Suite) {
	if s.ProxyDSN == nil {
		t.Skip("no network connection to cut")
	}
	e := newEnv(t, s, outbox.Config{})
	proxy := NewProxy(t, s.Upstream)
	rdb := open(t, s, s.ProxyDSN(s.DSN, proxy.Addr()))
	relayBox := outbox.New(rdb, outbox.Config{Dialect: s.Dialect, Table: e.ob.Table()})
	rec := NewRecorder()
	r := outbox.NewRelay(relayBox, rec, outbox.RelayConfig{BatchSize: 20, PollInterval: 20 * time.Millisecond, LeaseTTL: time.Second})
	stop := runRelay(r)
	defer stop()

	const keys, per = 10, 40
	want := map[string]int{}
	for i := range per {
		var batch []outbox.Message
		for k := range keys {
			key := fmt.Sprintf("key%d", k)
			batch = append(batch, msgs(key, i, 1)...)
			want[key] = per
		}
		e.add(t, batch...)
		if i == per/4 || i == per*3/4 {
			proxy.Down()
			time.Sleep(1500 * time.Millisecond)
			proxy.Up()
		}
		time.Sleep(5 * time.Millisecond)
	}
	rep := rec.WaitAll(t, want, 60*time.Second)
	assert.Empty(t, rep.Reordered)
	assert.Positive(t, r.Metrics().StoreErrors, "the outage was noticed")
	require.Empty(t, rec.Overlaps())
}
