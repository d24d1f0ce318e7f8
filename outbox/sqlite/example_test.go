package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/sqlite"
)

// The embedded quickstart: an order and its event are written in one
// transaction; a relay publishes the event to an in-process consumer,
// which applies it exactly once with an Inbox, although the event is
// delivered twice.
func Example() {
	dir, _ := os.MkdirTemp("", "outbox-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	db, err := sqlite.Open(filepath.Join(dir, "app.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	ob := outbox.New(db, outbox.Config{Dialect: sqlite.Dialect})
	if err := ob.Migrate(ctx); err != nil {
		panic(err)
	}
	_, _ = db.Exec("CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER)")
	_, _ = db.Exec("CREATE TABLE order_counts (n INTEGER)")
	_, _ = db.Exec("INSERT INTO order_counts VALUES (0)")
	inbox := outbox.NewInbox(db, outbox.InboxConfig{Dialect: sqlite.Dialect})
	if err := inbox.Migrate(ctx); err != nil {
		panic(err)
	}

	// The service: state change and event, one transaction.
	tx, _ := db.BeginTx(ctx, nil)
	_, _ = tx.ExecContext(ctx, "INSERT INTO orders VALUES ('o-1', 42)")
	_ = ob.Add(ctx, tx, outbox.Message{Topic: "orders", Key: "o-1", Payload: []byte(`{"type":"OrderCreated","total":42}`)})
	_ = tx.Commit()

	// The consumer, in process: it gets each event twice (at-least-once
	// delivery) and applies it once.
	done := make(chan struct{})
	consume := func(ctx context.Context, m outbox.Message) error {
		for range 2 {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			ran, err := inbox.Process(ctx, tx, m.ID, func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "UPDATE order_counts SET n = n + 1")
				return err
			})
			if err != nil {
				_ = tx.Rollback()
				return err
			}
			if err := tx.Commit(); err != nil {
				return err
			}
			fmt.Printf("%s %s: applied=%v\n", m.Topic, m.Payload, ran)
		}
		close(done)
		return nil
	}

	relayCtx, stop := context.WithCancel(ctx)
	relay := outbox.NewRelay(ob, outbox.PublisherFunc(consume), outbox.RelayConfig{PollInterval: 10 * time.Millisecond})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		_ = relay.Run(relayCtx)
	}()
	<-done
	stop()
	<-finished

	var n int
	_ = db.QueryRow("SELECT n FROM order_counts").Scan(&n)
	fmt.Println("orders counted:", n)
	// Output:
	// orders {"type":"OrderCreated","total":42}: applied=true
	// orders {"type":"OrderCreated","total":42}: applied=false
	// orders counted: 1
}
