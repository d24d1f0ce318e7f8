package embedded_test

import (
	"context"
	"os"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/resiliencekit/resilience/outbox/nats/embedded"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRestartKeepsStreams(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, err := embedded.Start(embedded.Config{Dir: dir})
	require.NoError(t, err)
	port := srv.Port()
	require.Positive(t, port)
	require.Equal(t, dir, srv.Dir())

	nc, err := natsgo.Connect(srv.URL(), natsgo.MaxReconnects(-1), natsgo.ReconnectWait(20*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "s.1", []byte("kept"))
	require.NoError(t, err)

	srv.Shutdown()
	srv.Shutdown() // twice is harmless
	srv, err = embedded.Start(embedded.Config{Dir: dir, Port: port})
	require.NoError(t, err)
	defer srv.Shutdown()
	require.Eventually(t, nc.IsConnected, 10*time.Second, 10*time.Millisecond)
	stream, err := js.Stream(ctx, "S")
	require.NoError(t, err)
	msg, err := stream.GetLastMsgForSubject(ctx, "s.1")
	require.NoError(t, err)
	require.Equal(t, "kept", string(msg.Data))
}

func TestTempDirRemoved(t *testing.T) {
	t.Parallel()
	srv, err := embedded.Start(embedded.Config{})
	require.NoError(t, err)
	dir := srv.Dir()
	require.DirExists(t, dir)
	srv.Shutdown()
	_, err = os.Stat(dir)
	require.True(t, os.IsNotExist(err))
}

func TestInvalidPort(t *testing.T) {
	t.Parallel()
	_, err := embedded.Start(embedded.Config{Port: -5})
	require.EqualError(t, err, "embedded: invalid port -5")
}
