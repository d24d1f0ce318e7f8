// Package outbox implements the transactional outbox: a service writes a
// state change and the event announcing it in one local database
// transaction, and a relay publishes the event to a message broker. There is
// never a state change without its event, nor an event without its state
// change; with consumers that deduplicate (Inbox), effects happen exactly
// once.
//
// The package uses database/sql and imports no driver: outbox/sqlite
// (pure Go, the embedded default), outbox/postgres (pgx, with LISTEN/NOTIFY
// wake-ups) and outbox/mysql (MySQL 8, MariaDB 10.6+) bring one each, all
// with the same shape (Open returns a *sql.DB, the constant Dialect goes
// into Config), and their doc explains how the outbox works on that
// database. Publishers for
// brokers live in outbox/nats, outbox/kafka and outbox/rabbitmq;
// MemoryPublisher and PublisherFunc deliver in-process.
//
// # Writing
//
//	db, err := postgres.Open(dsn)
//	ob := outbox.New(db, outbox.Config{Dialect: postgres.Dialect})
//	err = ob.Migrate(ctx) // once, at start-up
//
//	tx, err := db.BeginTx(ctx, nil)
//	// ... change the state ...
//	err = ob.Add(ctx, tx, outbox.Message{Topic: "orders", Key: orderID, Payload: event})
//	err = tx.Commit()
//
// Add inserts all its messages with one statement. A message gets an ID
// (NewID, a version 7 UUID) unless it has one; publishers pass it to the
// broker for deduplication and consumers to Inbox.Process.
//
// # Relaying
//
//	relay := outbox.NewRelay(ob, publisher, outbox.RelayConfig{})
//	err := relay.Run(ctx) // until ctx ends
//
// A relay claims a batch of due messages, hands it to the publisher and
// records what became of each message: published ones are deleted (or kept
// for RelayConfig.Retention); one that failed is retried after the delay
// RelayConfig.Backoff (a delay function such as a retry.Retry's Delay:
// exponential from 1 s to 5 min with equal jitter by default) gives for
// its count of failures, its key waiting with it; after RelayConfig.MaxAttempts failures, or at
// once for a permanent error (resilience.Permanent), it moves to the
// dead-letter table, as does a message whose ExpiresAt passed (reason
// "expired"). Outbox.DeadLetters lists them and Outbox.Redrive moves them
// back. The publisher sits behind a breaker (RelayConfig.Breaker, any
// resilience.Policy; a breaker.Breaker by default), so a broker that is
// down is probed, not hammered. A failure that only says the broker could
// not be reached (an error matching ErrUnavailable, as the publishers'
// connection and timeout errors do) is not the message's fault: it counts
// no attempt and delays no message, the breaker alone paces the relay, and
// the backlog flows as soon as the broker answers again, however long the
// outage. Database errors are retried with backoff (package retry) and
// never stop the relay.
//
// # Ordering
//
// Messages with the same Key reach the broker in the order of the outbox
// and never concurrently, also with several relays in several processes;
// messages of different keys go in parallel. The order of a key is the
// order in which its rows became visible to the relays: rows are numbered
// when inserted, and a relay publishes, for each key nobody else holds,
// the waiting rows in that numbering, stopping at the first one that is not
// due. There is no cursor that could skip a row: a transaction that
// inserted first but committed last is published when it commits, after
// whatever of its key was published before it (which is its commit order),
// and while another relay holds its key it waits for that relay to finish,
// so it never overtakes nor runs beside a message in flight.
//
// When two transactions insert rows of one key concurrently and both commit
// before a relay looks, the relay sees both and publishes them in
// insertion order, which is their commit order whenever the transactions
// that write a key are serialized. They are when they lock a common row,
// such as the aggregate the key names (the usual case), and always on
// SQLite (one writer). Otherwise set Config.LockKeys: Add then takes a
// per-key lock that lasts until commit, so that insertion order is commit
// order on PostgreSQL and MySQL too.
//
// # Several relays
//
// Relays share the work through a lease table: a claim, serialized among
// the relays of a table (an advisory lock on PostgreSQL, a row lock on
// MySQL, the write lock on SQLite), leases the keys of the messages it
// takes to its relay for RelayConfig.LeaseTTL, and the relay releases them
// once it has recorded the outcomes. So a key is published by one relay
// at a time and, in normal operation, nothing is published twice. A relay
// renews its lease while it publishes, and stops publishing when it could
// not renew it in time; when a relay dies, its keys are taken over once
// the lease has expired. Messages it published but could not record are
// then published again: delivery is at least once, duplicates come only
// from such crash windows, and consumers deduplicate by message ID
// (Inbox, or the broker: JetStream's Nats-Msg-Id, Kafka's idempotent
// producer).
//
// # Fencing
//
// A relay paused for longer than its lease — a long GC pause, a frozen VM,
// a process stopped with SIGSTOP — cannot tell while it is paused. When it
// goes on it may send the batch it held although another relay has taken
// its keys over and published them further: the broker then has older
// messages of a key after newer ones. Nothing a relay does can stop bytes
// already on their way, so the order is restored where it can be checked:
//
//   - Every claim takes a number from a counter in the database (a
//     sequence on PostgreSQL, a row on MySQL and SQLite), under the lock
//     that serializes claims, and each message goes out with the fence
//     (FenceHeader) of its claim and its position in the batch. For one
//     key, fences only grow in the order the relays publish; the late
//     copies of a paused relay carry smaller ones than what the relay
//     that took over sent.
//   - Inbox.ProcessFenced keeps the highest fence processed per key and
//     skips what is not above it, in the handler's transaction: a consumer
//     that uses it sees each key in order and each message once. A
//     consumer without an Inbox sees the late copies (repeats of messages
//     it had, after newer ones of their key) unless it keeps such a mark
//     itself.
//   - The acknowledgement is fenced too: a relay records outcomes only for
//     the keys it still holds, so a relay that woke up cannot delete,
//     delay or dead-letter rows that another relay is responsible for
//     (Metrics.Fenced counts what it left alone).
//
// The paused-relay test of outbox/outboxtest stops relays with SIGSTOP for
// longer than their lease while messages flow, on every dialect, and checks
// that a consumer with Inbox.ProcessFenced sees no message out of its key's
// order and none twice. RelayConfig.ID must be unique among running
// relays (the default is).
//
// # Wake-ups
//
// A relay that found less than a full batch sleeps for
// RelayConfig.PollInterval, or until its RelayConfig.Notifier wakes it:
// outbox/postgres wakes relays with LISTEN/NOTIFY when a transaction that
// added messages commits, and LocalNotifier lets a process wake its own
// relays after its commits.
//
// # Consuming
//
// Inbox.Process runs a consumer's handler only if the message ID is not
// recorded yet, and records it in the same transaction as the handler's
// effects: at-least-once delivery, exactly-once effects. Inbox.ProcessFenced
// does the same and also drops the late copies of a paused relay (see
// Fencing), so that the effects of a key also happen in order.
//
// # Observing
//
// Relay.Metrics counts what a relay published, what failed and what it
// dead-lettered; Outbox.Stats reads the backlog, the age of the oldest
// waiting message (lag) and the number of dead letters. The readiness
// check health.Outbox bounds them. RelayConfig.Observer and
// Config.Observer get events (below); RelayConfig.Name and Config.Name
// name the relay and the outbox for telemetry.
//
// # Events
//
// A relay with RelayConfig.Observer set reports what it does as
// resilience.Events with Policy "outbox" and Name RelayConfig.Name (Key is
// ""), on its goroutine, with the context of Run:
//
//   - EventPublish after each publish call of a batch (a batch of only
//     expired messages makes none): Count is how many of its messages the
//     broker acknowledged, Duration how long the call took. A call that
//     published nothing is a failure: Count is 0 and Err the first
//     failure of a message (ErrNotSent only when every message got it),
//     or the error of RelayConfig.Breaker when it refused the call. A
//     call that published some has a nil Err; its failed messages show as
//     attempts (Metrics.Failed) and, in the end, as dead letters.
//   - EventDeadLetter for each message the relay moved to the dead-letter
//     table, once that is recorded: Reason is its DeadLetter.Reason
//     (ReasonMaxAttempts, ReasonRejected, ReasonExpired), Err the failure
//     of its last attempt (nil for an expired message), Attempt how many
//     attempts failed.
//
// An Outbox with Config.Observer set reports, with Policy "outbox" and
// Name Config.Name, on the caller's goroutine and with its context:
//
//   - EventRedrive each time Redrive moved dead letters back: Count is how
//     many.
//
// The two may be the same Observer. Without one nothing is reported, and
// the relay reads no clock for it.
//
// # Tables
//
// Migrate creates Table (the messages), Table_dead (dead letters) and
// Table_lease (keys held by relays and keys backing off), plus Table_lock
// and Table_keylock on MySQL; Schema returns the statements for migration
// tools. Table names are validated (letters, digits, underscores, an
// optional schema) and quoted, never spliced raw. Times are stored as
// microseconds since the Unix epoch, read from the database's clock, so
// relays on hosts with different clocks agree on leases.
package outbox
