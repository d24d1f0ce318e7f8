// Package idempotency honours Idempotency-Key on the server: a request
// retried with the key of one already executed is answered with the stored
// outcome, not executed again. With it, the clients that retry a POST —
// resilience.Transport with TransportConfig.IdempotencyKey, and everyone
// else's — get each request's effect once.
//
//	keys := idempotency.New(store, idempotency.Config{TTL: 24 * time.Hour})
//	mux.Handle("POST /orders", keys.Handler(createOrder))
//
// Handler follows the IETF draft draft-ietf-httpapi-idempotency-key-header:
// the first request with a key executes; a repeat gets the stored response
// (status, the headers of Config.Headers, the body) with
// Idempotent-Replayed: true; a repeat while the first runs gets 409
// Conflict, or waits for it (Config.MaxWait); the key sent with another
// request (method, path, query, body) gets 422; an invalid key gets 400, as
// does a missing one where Config.KeyRequired says so. Errors have
// problem+json bodies (RFC 9457). By default an outcome of 5xx, 408 or 429
// is not stored, so a retry executes again (Config.Keep). Do does the same
// for any call, storing its value as JSON.
//
// # Stores
//
// A Store keeps the records: MemoryStore (one process), SQLStore
// (PostgreSQL, MySQL/MariaDB and SQLite through database/sql) and, in the
// nested module idempotency/redis, Redis. Each passes the conformance suite
// of idempotencytest against its real server. Every store is bounded: keys
// by Config.MaxKeyBytes (and the 33 bytes of their scope), outcomes by the
// store's MaxOutcomeBytes (1 MiB by default), request bodies read by
// Config.MaxRequestBytes; MemoryStore also in keys and bytes overall.
//
// # Failure
//
// A record in progress has a lease (Config.Lease), renewed while its
// execution runs. A process that dies mid-request leaves its record in
// progress until the lease runs out; the retry after that executes again.
// So a handler under Handler runs at least once, and at most once at a
// time: what the dead process had done is not undone. For effects exactly
// once, make them in a SQL transaction with the record (CommitTx): the
// state change, the outbox event of package outbox and the stored response
// then commit together, or not at all.
//
// When the store fails, nothing executes (503, ErrUnavailable). When an
// outcome cannot be stored after the execution, the response is still
// sent, and the record stays in progress until its lease runs out. A
// response longer than Config.MaxResponseBytes is sent, and a repeat gets
// 409 with ErrNotKept rather than a second execution.
//
// # Security
//
// Records are scoped (Config.Scope, by default the Authorization header):
// a client that sends another client's key executes its own request and
// never reads the other's response. Set Scope to the authenticated
// principal when credentials rotate or are not in Authorization.
package idempotency
