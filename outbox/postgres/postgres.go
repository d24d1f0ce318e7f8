// Package postgres connects the outbox to PostgreSQL through pgx v5: Open
// returns a *sql.DB on pgx's database/sql driver, and Notifier wakes
// relays with LISTEN/NOTIFY, so that a committed message is published
// within milliseconds while relays poll rarely.
//
//	db, err := postgres.Open("postgres://user@host/db")
//	ob := outbox.New(db, outbox.Config{Dialect: postgres.Dialect})
//	err = ob.Migrate(ctx) // also installs the NOTIFY trigger
//	n := postgres.NewNotifier("postgres://user@host/db", ob.Table(), postgres.NotifierConfig{})
//	go n.Run(ctx)
//	relay := outbox.NewRelay(ob, publisher, outbox.RelayConfig{Notifier: n, PollInterval: 5 * time.Second})
//	err = relay.Run(ctx)
//
// # How the outbox works on PostgreSQL
//
// Rows get their sequence number from an identity column when they are
// inserted, so a transaction that inserted first may commit last. Relays
// claim under a transaction-level advisory lock (one per outbox table), in
// READ COMMITTED: the claim reads the first waiting rows in sequence order
// among the keys nobody holds, keeps for each key the rows before the first
// one that is not yet due, and leases those keys in the lease table before
// it commits. A row committed late is not skipped, since there is no
// cursor: it is simply waiting, and goes as soon as its key is free. If a
// later row of its key was published meanwhile, the late row follows it,
// which is the commit order; if a relay holds the key, the late row waits
// for the lease to be released, so it never overtakes nor runs beside the
// message in flight.
//
// Migrate installs a statement-level AFTER INSERT trigger that calls
// pg_notify with the outbox's table name as the channel. PostgreSQL
// delivers the notification when the inserting transaction commits, and
// never for one that rolls back. A Notifier listens on a connection of its
// own and wakes its subscribed relays; after a reconnection it wakes them
// too, since notifications sent meanwhile are lost. Relays still poll, so
// a lost notification only delays a message by the poll interval.
package postgres

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/resiliencekit/resilience/outbox"
)

// Dialect is the outbox dialect of the databases Open opens, for
// outbox.Config.Dialect and outbox.InboxConfig.Dialect.
const Dialect = outbox.Postgres

// Open opens a PostgreSQL database through pgx's database/sql driver. dsn
// is a URL (postgres://user:password@host:5432/db?sslmode=disable) or a
// key=value string, as pgx.ParseConfig accepts.
func Open(dsn string) (*sql.DB, error) { return sql.Open("pgx", dsn) }

// NotifierConfig configures a Notifier. The zero value is fine.
type NotifierConfig struct {
	// OnError, when not nil, is called with the context of Run and each
	// error of the listening connection (the Notifier reconnects by
	// itself, with backoff from 100 ms to 5 s). It is called on Run's
	// goroutine.
	OnError func(ctx context.Context, err error)
}

// Notifier is an outbox.Notifier fed by PostgreSQL's LISTEN/NOTIFY. Create
// it with NewNotifier and run it with Run; it is safe for concurrent use.
type Notifier struct {
	connString, channel string
	c                   NotifierConfig
	local               *outbox.LocalNotifier // fans a notification out to the subscribed relays
}

// NewNotifier returns a Notifier that listens on channel (use the outbox's
// Table(), the channel of the trigger Migrate installs) over a connection
// of its own to connString. It panics with an "outbox/postgres: ..."
// message when channel is empty.
func NewNotifier(connString, channel string, c NotifierConfig) *Notifier {
	if channel == "" {
		panic("outbox/postgres: NewNotifier with an empty channel")
	}
	return &Notifier{connString: connString, channel: channel, c: c, local: outbox.NewLocalNotifier()}
}

// Subscribe implements outbox.Notifier.
func (n *Notifier) Subscribe() (<-chan struct{}, func()) { return n.local.Subscribe() }

func (n *Notifier) wake() { n.local.Notify() }

// Run listens until ctx ends, then closes its connection and returns nil.
// It wakes every subscriber once it listens, after each reconnection
// too, and whenever a notification arrives.
func (n *Notifier) Run(ctx context.Context) error {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		listened, err := n.listen(ctx)
		if ctx.Err() != nil {
			break
		}
		if n.c.OnError != nil && err != nil {
			n.c.OnError(ctx, err)
		}
		if listened {
			delay = 100 * time.Millisecond
		}
		t := time.NewTimer(delay/2 + rand.N(delay/2+1))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		delay = min(2*delay, 5*time.Second)
	}
	return nil
}

// listen connects, listens and relays notifications until an error or the
// end of ctx. It reports whether it got as far as listening.
func (n *Notifier) listen(ctx context.Context) (bool, error) {
	conn, err := pgx.Connect(ctx, n.connString)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{n.channel}.Sanitize()); err != nil {
		return false, err
	}
	n.wake() // whatever was committed while nobody listened
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, err
		}
		n.wake()
	}
}
