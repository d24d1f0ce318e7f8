package resiliencegrpc_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/resiliencekit/resilience/ratelimit"
	"github.com/resiliencekit/resilience/resiliencegrpc"
	"github.com/resiliencekit/resilience/retry"
)

// A server that allows each client one call a second, and a client that
// retries: the second call is refused with RESOURCE_EXHAUSTED and a
// pushback, which the client waits out before it tries again.
func Example() {
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(resiliencegrpc.UnaryServerInterceptor(
		resiliencegrpc.ServerConfig{}, ratelimit.NewGroup(1, 1, ratelimit.GroupConfig{}))))
	testpb.RegisterTestServiceServer(srv, &service{})
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	retryable := func(c codes.Code) bool { return c == codes.Unavailable || c == codes.ResourceExhausted }
	conn, _ := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(resiliencegrpc.UnaryClientInterceptor(
			resiliencegrpc.ClientConfig{Retryable: retryable},
			retry.New(retry.Config{MaxRetries: 2, MaxDelay: 5 * time.Second}))))
	defer conn.Close()
	client := testpb.NewTestServiceClient(conn)

	for range 2 {
		start := time.Now()
		_, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{})
		fmt.Println(status.Code(err), "waited a pushback:", time.Since(start) > 500*time.Millisecond)
	}
	// Output:
	// OK waited a pushback: false
	// OK waited a pushback: true
}
