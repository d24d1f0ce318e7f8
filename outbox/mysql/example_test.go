package mysql_test

import (
	"context"
	"log"

	"github.com/resiliencekit/resilience/outbox"
	"github.com/resiliencekit/resilience/outbox/mysql"
)

// An outbox on MySQL or MariaDB, with writers of a key serialized so that
// insertion order is commit order even for concurrent transactions.
func Example() {
	ctx := context.Background()
	db, err := mysql.Open("app:secret@tcp(db.internal:3306)/app")
	if err != nil {
		log.Fatal(err)
	}
	ob := outbox.New(db, outbox.Config{Dialect: mysql.Dialect, LockKeys: true})
	if err := ob.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback()
	// ... UPDATE accounts SET ... in tx, then:
	if err := ob.Add(ctx, tx, outbox.Message{Topic: "accounts", Key: "acct-7", Payload: []byte(`{"type":"Debited"}`)}); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
}
