package bench

import (
	"context"
	"net"
	"testing"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/failsafegrpc"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	rbreaker "github.com/resiliencekit/resilience/breaker"
	"github.com/resiliencekit/resilience/resiliencegrpc"
	"github.com/resiliencekit/resilience/retry"
)

// The gRPC benchmarks put a retry and a breaker (consecutive failures)
// around a unary call that succeeds, as a client interceptor: ours
// (resiliencegrpc) and failsafe-go's failsafegrpc.
//
//   - interceptor: the interceptor alone, around an invoker that returns
//     at once: what it adds to a call. The peer "bare" is the invoker
//     called directly.
//   - loopback: a real call to a grpc-go server on loopback TCP, beside
//     the same call without an interceptor ("bare").

type grpcImpl struct {
	name string
	ic   grpc.UnaryClientInterceptor // nil: none
}

func grpcImpls() []grpcImpl {
	return []grpcImpl{
		{"resilience", resiliencegrpc.UnaryClientInterceptor(resiliencegrpc.ClientConfig{},
			retry.New(retry.Config{}), rbreaker.New(rbreaker.Config{ConsecutiveFailures: 5}))},
		{"bare", nil},
		{"failsafe-go", failsafegrpc.NewUnaryClientInterceptor[any](
			retrypolicy.NewWithDefaults[any](), circuitbreaker.NewBuilder[any]().WithFailureThreshold(5).Build())},
	}
}

type echoServer struct {
	testpb.UnimplementedTestServiceServer
}

func (echoServer) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{}, nil
}

func BenchmarkGRPC(b *testing.B) {
	ctx := context.Background()
	req, reply := &testpb.SimpleRequest{}, &testpb.SimpleResponse{}
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	for _, impl := range grpcImpls() {
		b.Run("interceptor/"+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if impl.ic == nil {
					err = invoker(ctx, "/m", req, reply, nil)
				} else {
					err = impl.ic(ctx, "/m", req, reply, nil, invoker)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, echoServer{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	for _, impl := range grpcImpls() {
		b.Run("loopback/"+impl.name, func(b *testing.B) {
			opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
			if impl.ic != nil {
				opts = append(opts, grpc.WithUnaryInterceptor(impl.ic))
			}
			conn, err := grpc.NewClient(lis.Addr().String(), opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			c := testpb.NewTestServiceClient(conn)
			if _, err := c.UnaryCall(ctx, req); err != nil { // connect first
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.UnaryCall(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
