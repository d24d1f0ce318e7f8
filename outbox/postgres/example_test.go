package postgres_test

import (
	"context"
	"log"
	"time"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/postgres"
)

// A relay on PostgreSQL, woken by LISTEN/NOTIFY: messages go out within
// milliseconds of their commit while the relay polls only every 10 s.
func Example() {
	const dsn = "postgres://app@db.internal:5432/app"
	ctx := context.Background()
	db, err := postgres.Open(dsn)
	if err != nil {
		log.Fatal(err)
	}
	ob := outbox.New(db, outbox.Config{Dialect: postgres.Dialect})
	if err := ob.Migrate(ctx); err != nil { // tables, indexes and the NOTIFY trigger
		log.Fatal(err)
	}
	n := postgres.NewNotifier(dsn, ob.Table(), postgres.NotifierConfig{
		OnError: func(_ context.Context, err error) { log.Println("outbox listener:", err) },
	})
	go func() { _ = n.Run(ctx) }()

	var publisher outbox.Publisher = outbox.NewMemoryPublisher() // outbox/nats in production
	relay := outbox.NewRelay(ob, publisher, outbox.RelayConfig{Notifier: n, PollInterval: 10 * time.Second})
	if err := relay.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
