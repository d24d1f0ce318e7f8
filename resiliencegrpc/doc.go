// Package resiliencegrpc applies the policies of
// github.com/resiliencekit/resilience to gRPC calls (grpc-go), on both
// sides:
//
//	conn, err := grpc.NewClient(target,
//		grpc.WithChainUnaryInterceptor(resiliencegrpc.UnaryClientInterceptor(resiliencegrpc.ClientConfig{},
//			retry.New(retry.Config{}), breaker.New(breaker.Config{}))),
//		grpc.WithChainStreamInterceptor(resiliencegrpc.StreamClientInterceptor(resiliencegrpc.ClientConfig{},
//			retry.New(retry.Config{}))))
//
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(resiliencegrpc.UnaryServerInterceptor(resiliencegrpc.ServerConfig{},
//			ratelimit.NewGroup(100, 200, ratelimit.GroupConfig{}), bulkhead.New(64, bulkhead.Config{}))))
//
// On the client, the codes ClientConfig.Failure names (by default
// UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL,
// UNAVAILABLE, DATA_LOSS) are failures for the policies; other codes are
// the server's answers, returned to the caller as they are. Of the
// failures only those ClientConfig.Retryable names (by default UNAVAILABLE,
// as gRFC A6) may be retried, and a server's pushback (the
// grpc-retry-pushback-ms trailer) is the least a retry waits, or, negative,
// stops it. A stream is retried only before its first message arrives.
// A time limit among the policies becomes each unary attempt's gRPC
// deadline, which grpc-go sends to the server (grpc-timeout) with the
// caller's own; ClientConfig.SendCriticality sends the criticality of the
// call's context (resilience.WithCriticality) in the request-criticality
// metadata.
//
// On the server, the policies' refusals become statuses:
// RESOURCE_EXHAUSTED for a rate limit, UNAVAILABLE for an open breaker or
// a full bulkhead, DEADLINE_EXCEEDED for a time limit, with the wait they
// carry as a pushback trailer. Keyed policies are keyed by the peer's IP
// address (PeerKey) or a metadata value (MetadataKey), and
// ServerConfig.Criticality reads the caller's criticality, so that a
// bulkhead sheds sheddable calls first. ServerConfig.Margin and MinLeft do
// with the caller's deadline (grpc-timeout) what
// resilience.DeadlineConfig does over HTTP: a margin off it, and a call
// with too little time left refused at once. A panic in a handler is seen by
// the policies as a failure and answered INTERNAL, instead of ending the
// process as it would in grpc-go.
//
// grpc-go's own retry (a service config's retryPolicy) and these
// interceptors do not know of each other: use one or the other for a
// method.
package resiliencegrpc
