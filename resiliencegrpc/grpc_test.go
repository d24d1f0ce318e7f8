package resiliencegrpc_test

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/bulkhead"
	"github.com/resiliencekit/resilience/ratelimit"
	"github.com/resiliencekit/resilience/resiliencegrpc"
	"github.com/resiliencekit/resilience/retry"
	"github.com/resiliencekit/resilience/timelimit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// service is the test service: each method runs the func set for it and
// counts its calls.
type service struct {
	testpb.UnimplementedTestServiceServer
	calls  atomic.Int64
	unary  func(ctx context.Context, n int64) error
	stream func(n int64, req *testpb.StreamingOutputCallRequest, s grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error
	duplex func(n int64, s grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error
}

func (s *service) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	n := s.calls.Add(1)
	if s.unary != nil {
		if err := s.unary(ctx, n); err != nil {
			return nil, err
		}
	}
	return &testpb.SimpleResponse{}, nil
}

func (s *service) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, st grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	return s.stream(s.calls.Add(1), req, st)
}

func (s *service) FullDuplexCall(st grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	return s.duplex(s.calls.Add(1), st)
}

// serve starts a real grpc-go server for svc on loopback TCP with opts
// and returns a client connection to it with dial.
func serve(t *testing.T, svc *service, opts []grpc.ServerOption, dial ...grpc.DialOption) testpb.TestServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(opts...)
	testpb.RegisterTestServiceServer(srv, svc)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dial...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
	})
	return testpb.NewTestServiceClient(conn)
}

func quickRetry(n int) *retry.Retry {
	return retry.New(retry.Config{MaxRetries: n, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
}

func client(ps ...resilience.Policy) grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(resiliencegrpc.UnaryClientInterceptor(resiliencegrpc.ClientConfig{}, ps...))
}

func TestUnaryRetriesUnavailable(t *testing.T) {
	t.Parallel()
	svc := &service{unary: func(_ context.Context, n int64) error {
		if n < 3 {
			return status.Error(codes.Unavailable, "warming up")
		}
		return nil
	}}
	c := serve(t, svc, nil, client(quickRetry(3)))
	_, err := c.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	require.NoError(t, err)
	assert.EqualValues(t, 3, svc.calls.Load())
}

// A code that is an answer (NOT_FOUND) is neither retried nor counted by a
// breaker; a failure that is not retryable (INTERNAL) is counted but not
// retried; a retryable code added to Retryable is retried.
func TestUnaryClassification(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code      codes.Code
		retryable func(codes.Code) bool
		calls     int64
		failures  uint64
	}{
		{codes.NotFound, nil, 1, 0},
		{codes.InvalidArgument, nil, 1, 0},
		{codes.Internal, nil, 1, 1},
		{codes.Unavailable, nil, 3, 3},
		{codes.Aborted, func(c codes.Code) bool { return c == codes.Aborted }, 3, 3},
	} {
		t.Run(tt.code.String(), func(t *testing.T) {
			t.Parallel()
			svc := &service{unary: func(context.Context, int64) error { return status.Error(tt.code, "no") }}
			br := breaker.New(breaker.Config{ConsecutiveFailures: 100})
			c := serve(t, svc, nil, grpc.WithChainUnaryInterceptor(resiliencegrpc.UnaryClientInterceptor(
				resiliencegrpc.ClientConfig{Retryable: tt.retryable}, quickRetry(2), br)))
			_, err := c.UnaryCall(t.Context(), &testpb.SimpleRequest{})
			assert.Equal(t, tt.code, status.Code(err), "the caller gets the server's status")
			assert.Equal(t, tt.calls, svc.calls.Load())
			assert.Equal(t, tt.failures, br.Metrics().Failures)
		})
	}
}

// A server's pushback is the least a retry waits; a negative one stops it.
func TestPushback(t *testing.T) {
	t.Parallel()
	push := func(v string) func(ctx context.Context, n int64) error {
		return func(ctx context.Context, n int64) error {
			if n > 1 {
				return nil
			}
			_ = grpc.SetTrailer(ctx, metadata.Pairs(resiliencegrpc.PushbackKey, v))
			return status.Error(codes.Unavailable, "busy")
		}
	}
	svc := &service{unary: push("150")}
	c := serve(t, svc, nil, client(retry.New(retry.Config{MaxRetries: 2, InitialDelay: time.Millisecond})))
	start := time.Now()
	_, err := c.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "waited for the pushback")
	assert.EqualValues(t, 2, svc.calls.Load())

	for _, v := range []string{"-1", "soon"} {
		svc := &service{unary: push(v)}
		c := serve(t, svc, nil, client(quickRetry(3)))
		_, err := c.UnaryCall(t.Context(), &testpb.SimpleRequest{})
		assert.Equal(t, codes.Unavailable, status.Code(err), v)
		assert.EqualValues(t, 1, svc.calls.Load(), "%s: do not retry", v)
	}
}

// A call the breaker refuses never reaches the server and reads as
// UNAVAILABLE, still matching breaker.ErrOpen.
func TestBreakerRejection(t *testing.T) {
	t.Parallel()
	svc := &service{}
	br := breaker.New(breaker.Config{})
	br.ForceOpen()
	c := serve(t, svc, nil, client(br))
	_, err := c.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.ErrorIs(t, err, breaker.ErrOpen)
	assert.Zero(t, svc.calls.Load())
}

// A time limit per attempt is each attempt's gRPC deadline, which the
// server's handler sees; the caller's cancel reaches the handler too.
func TestDeadlineAndCancel(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var left []time.Duration
	svc := &service{unary: func(ctx context.Context, _ int64) error {
		if dl, ok := ctx.Deadline(); ok {
			mu.Lock()
			left = append(left, time.Until(dl))
			mu.Unlock()
		}
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	}}
	c := serve(t, svc, nil, client(quickRetry(1), timelimit.New(100*time.Millisecond, timelimit.Config{})))
	_, err := c.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
	assert.ErrorIs(t, err, timelimit.ErrTimeout)
	assert.EqualValues(t, 1, svc.calls.Load(), "DEADLINE_EXCEEDED is a failure, but not retryable by default (gRFC A6)")
	mu.Lock()
	require.NotEmpty(t, left)
	for _, l := range left {
		assert.LessOrEqual(t, l, 100*time.Millisecond, "the attempt's deadline reached the server")
	}
	mu.Unlock()

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	c2 := serve(t, &service{unary: svc.unary}, nil, client(quickRetry(3)))
	_, err = c2.UnaryCall(ctx, &testpb.SimpleRequest{})
	assert.Equal(t, codes.Canceled, status.Code(err))
}

func streamReq() *testpb.StreamingOutputCallRequest { return &testpb.StreamingOutputCallRequest{} }

func streamClient(ps ...resilience.Policy) grpc.DialOption {
	return grpc.WithChainStreamInterceptor(resiliencegrpc.StreamClientInterceptor(resiliencegrpc.ClientConfig{}, ps...))
}

// A server stream that fails before its first message is opened again;
// one that fails after it is not.
func TestStreamRetriedBeforeFirstMessage(t *testing.T) {
	t.Parallel()
	svc := &service{stream: func(n int64, _ *testpb.StreamingOutputCallRequest, s grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
		if n == 1 {
			return status.Error(codes.Unavailable, "not yet")
		}
		for range 3 {
			if err := s.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
				return err
			}
		}
		if n == 2 {
			return status.Error(codes.Unavailable, "broke off")
		}
		return nil
	}}
	c := serve(t, svc, nil, streamClient(quickRetry(3)))
	st, err := c.StreamingOutputCall(t.Context(), streamReq())
	require.NoError(t, err)
	got := 0
	for {
		_, err = st.Recv()
		if err != nil {
			break
		}
		got++
	}
	assert.Equal(t, 3, got)
	assert.Equal(t, codes.Unavailable, status.Code(err), "after the first message, errors reach the caller")
	assert.EqualValues(t, 2, svc.calls.Load())
}

// A bidirectional stream retried before its first message sends the
// messages sent so far again.
func TestDuplexReplay(t *testing.T) {
	t.Parallel()
	svc := &service{duplex: func(n int64, s grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
		if n == 1 {
			if _, err := s.Recv(); err != nil {
				return err
			}
			return status.Error(codes.Unavailable, "restarting")
		}
		for {
			_, err := s.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := s.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
				return err
			}
		}
	}}
	c := serve(t, svc, nil, streamClient(quickRetry(3)))
	st, err := c.FullDuplexCall(t.Context())
	require.NoError(t, err)
	require.NoError(t, st.Send(streamReq()))
	require.NoError(t, st.Send(streamReq()))
	require.NoError(t, st.CloseSend())
	got := 0
	for {
		if _, err = st.Recv(); err != nil {
			break
		}
		got++
	}
	assert.Equal(t, io.EOF, err)
	assert.Equal(t, 2, got, "both messages were sent again")
	assert.EqualValues(t, 2, svc.calls.Load())
}

// The server interceptors: refusals become codes with pushback; calls are
// keyed by peer; a panic is answered INTERNAL and seen by the breaker.
func TestServerRefusals(t *testing.T) {
	t.Parallel()
	limits := ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{})
	svc := &service{}
	c := serve(t, svc, []grpc.ServerOption{grpc.ChainUnaryInterceptor(resiliencegrpc.UnaryServerInterceptor(resiliencegrpc.ServerConfig{}, limits))})
	_, err := c.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	require.NoError(t, err)
	var trailer metadata.MD
	_, err = c.UnaryCall(t.Context(), &testpb.SimpleRequest{}, grpc.Trailer(&trailer))
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	require.Len(t, trailer.Get(resiliencegrpc.PushbackKey), 1)
	assert.NotEqual(t, "0", trailer.Get(resiliencegrpc.PushbackKey)[0])
	assert.Equal(t, 1, limits.Len(), "one key: the peer's address")
	limits.Range(func(key string, _ ratelimit.Metrics) bool {
		assert.Equal(t, "127.0.0.1", key)
		return true
	})

	// A full bulkhead and an open breaker: UNAVAILABLE.
	br := breaker.New(breaker.Config{})
	br.ForceOpen()
	c = serve(t, &service{}, []grpc.ServerOption{grpc.ChainUnaryInterceptor(resiliencegrpc.UnaryServerInterceptor(resiliencegrpc.ServerConfig{}, br))})
	_, err = c.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	assert.Equal(t, codes.Unavailable, status.Code(err))

	bh := bulkhead.New(1, bulkhead.Config{})
	gate := make(chan struct{})
	slow := &service{unary: func(context.Context, int64) error { <-gate; return nil }}
	c = serve(t, slow, []grpc.ServerOption{grpc.ChainUnaryInterceptor(resiliencegrpc.UnaryServerInterceptor(resiliencegrpc.ServerConfig{}, bh))})
	done := make(chan error, 1)
	go func() { _, err := c.UnaryCall(t.Context(), &testpb.SimpleRequest{}); done <- err }()
	require.Eventually(t, func() bool { return slow.calls.Load() == 1 }, 10*time.Second, time.Millisecond)
	_, err = c.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	assert.Equal(t, codes.Unavailable, status.Code(err))
	close(gate)
	require.NoError(t, <-done)
}

func TestServerPanic(t *testing.T) {
	t.Parallel()
	br := breaker.New(breaker.Config{ConsecutiveFailures: 100})
	var seen atomic.Value
	svc := &service{unary: func(context.Context, int64) error { panic("boom") }}
	c := serve(t, svc, []grpc.ServerOption{grpc.ChainUnaryInterceptor(resiliencegrpc.UnaryServerInterceptor(resiliencegrpc.ServerConfig{
		OnPanic: func(_ context.Context, method string, v any, stack []byte) { seen.Store(method) },
	}, br))})
	for range 2 {
		_, err := c.UnaryCall(t.Context(), &testpb.SimpleRequest{})
		assert.Equal(t, codes.Internal, status.Code(err))
	}
	assert.Equal(t, "/grpc.testing.TestService/UnaryCall", seen.Load())
	assert.EqualValues(t, 2, br.Metrics().Failures, "the breaker saw the panics")
}

// The criticality travels in metadata; the server reads it (capped) and a
// bulkhead behind it sees it; a malformed one is INVALID_ARGUMENT.
func TestCriticality(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	svc := &service{unary: func(ctx context.Context, _ int64) error {
		c, _ := resilience.CriticalityFrom(ctx)
		got.Store(c)
		return nil
	}}
	srvOpts := []grpc.ServerOption{grpc.ChainUnaryInterceptor(resiliencegrpc.UnaryServerInterceptor(resiliencegrpc.ServerConfig{
		Criticality: &resiliencegrpc.Criticality{Max: resilience.Critical},
		Key:         resiliencegrpc.MetadataKey("tenant"),
	}))}
	c := serve(t, svc, srvOpts, grpc.WithChainUnaryInterceptor(resiliencegrpc.UnaryClientInterceptor(resiliencegrpc.ClientConfig{SendCriticality: true})))
	_, err := c.UnaryCall(resilience.WithCriticality(t.Context(), resilience.Sheddable), &testpb.SimpleRequest{})
	require.NoError(t, err)
	assert.Equal(t, resilience.Sheddable, got.Load())

	bad := metadata.AppendToOutgoingContext(t.Context(), resiliencegrpc.CriticalityKey, "urgent")
	_, err = c.UnaryCall(bad, &testpb.SimpleRequest{})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
}

// The stream server interceptor: a refusal at the start of a stream, a
// handler that runs with the policies' context, a panic answered INTERNAL.
func TestStreamServer(t *testing.T) {
	t.Parallel()
	bh := bulkhead.New(1, bulkhead.Config{})
	gate := make(chan struct{})
	var keyed atomic.Value
	svc := &service{stream: func(n int64, _ *testpb.StreamingOutputCallRequest, s grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
		keyed.Store(resilience.KeyFrom(s.Context()))
		switch n {
		case 1:
			<-gate
		case 2: // the second stream was refused before its handler ran
			panic("boom")
		}
		return s.Send(&testpb.StreamingOutputCallResponse{})
	}}
	c := serve(t, svc, []grpc.ServerOption{grpc.ChainStreamInterceptor(resiliencegrpc.StreamServerInterceptor(resiliencegrpc.ServerConfig{
		Key: resiliencegrpc.MetadataKey("tenant"),
	}, bh))})
	ctx := metadata.AppendToOutgoingContext(t.Context(), "tenant", "acme")
	first, err := c.StreamingOutputCall(ctx, streamReq())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return svc.calls.Load() == 1 }, 10*time.Second, time.Millisecond)
	second, err := c.StreamingOutputCall(ctx, streamReq())
	require.NoError(t, err)
	_, err = second.Recv()
	assert.Equal(t, codes.Unavailable, status.Code(err), "the bulkhead is full")
	close(gate)
	_, err = first.Recv()
	require.NoError(t, err)
	assert.Equal(t, "acme", keyed.Load(), "keyed by the tenant metadata")

	third, err := c.StreamingOutputCall(ctx, streamReq())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return bh.Metrics().InFlight == 0 }, 10*time.Second, time.Millisecond)
	_, err = third.Recv()
	for err == nil {
		_, err = third.Recv()
	}
	assert.Equal(t, codes.Internal, status.Code(err), "a panic in the stream's handler")
}

// The server takes Margin off the caller's deadline and refuses at once a
// call with less than MinLeft left; a call without a deadline starts.
func TestServerDeadline(t *testing.T) {
	t.Parallel()
	var left atomic.Int64
	svc := &service{unary: func(ctx context.Context, _ int64) error {
		if dl, ok := ctx.Deadline(); ok {
			left.Store(int64(time.Until(dl)))
		} else {
			left.Store(-1)
		}
		return nil
	}}
	c := serve(t, svc, []grpc.ServerOption{grpc.ChainUnaryInterceptor(resiliencegrpc.UnaryServerInterceptor(resiliencegrpc.ServerConfig{
		Margin: 100 * time.Millisecond, MinLeft: 500 * time.Millisecond,
	}))})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{})
	require.NoError(t, err)
	assert.LessOrEqual(t, time.Duration(left.Load()), 9900*time.Millisecond, "the margin was taken off")
	assert.Greater(t, time.Duration(left.Load()), time.Duration(0))

	_, err = c.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	require.NoError(t, err)
	assert.EqualValues(t, -1, left.Load(), "no deadline: served as it is")

	short, cancel2 := context.WithTimeout(t.Context(), 550*time.Millisecond) // 450 ms after the margin
	defer cancel2()
	before := svc.calls.Load()
	_, err = c.UnaryCall(short, &testpb.SimpleRequest{})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
	assert.Equal(t, before, svc.calls.Load(), "refused before the handler")
	assert.Panics(t, func() { resiliencegrpc.UnaryServerInterceptor(resiliencegrpc.ServerConfig{MinLeft: -1}) })
}
