package idempotency_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resiliencekit/resilience/idempotency"
)

// noDB is a *sql.DB whose every connection fails, so a test sees any use
// of the database.
func noDB() *sql.DB { return sql.OpenDB(failConnector{}) }

var errNoDatabase = errors.New("no database")

type failConnector struct{}

func (failConnector) Connect(context.Context) (driver.Conn, error) { return nil, errNoDatabase }
func (failConnector) Driver() driver.Driver                        { return nil }

func TestNewSQLStorePanics(t *testing.T) {
	t.Parallel()
	db := noDB()
	defer db.Close()
	for _, tc := range []struct {
		name string
		c    idempotency.SQLConfig
		want string
	}{
		{"no dialect", idempotency.SQLConfig{}, "SQLConfig.Dialect must be Postgres, MySQL or SQLite, not Dialect(0)"},
		{"unknown dialect", idempotency.SQLConfig{Dialect: idempotency.Dialect(9)}, "not Dialect(9)"},
		{"injection", idempotency.SQLConfig{Dialect: idempotency.Postgres, Table: `x"; DROP TABLE users; --`}, "invalid table name"},
		{"backquote", idempotency.SQLConfig{Dialect: idempotency.MySQL, Table: "a`b"}, "invalid table name"},
		{"digit first", idempotency.SQLConfig{Dialect: idempotency.MySQL, Table: "1keys"}, "invalid table name"},
		{"two dots", idempotency.SQLConfig{Dialect: idempotency.Postgres, Table: "a.b.c"}, "invalid table name"},
		{"space", idempotency.SQLConfig{Dialect: idempotency.SQLite, Table: "my keys"}, "invalid table name"},
		{"too long", idempotency.SQLConfig{Dialect: idempotency.Postgres, Table: strings.Repeat("t", 55)}, "too long"},
		{"sqlite schema", idempotency.SQLConfig{Dialect: idempotency.SQLite, Table: "main.keys"}, "cannot be schema-qualified"},
		{"negative max outcome", idempotency.SQLConfig{Dialect: idempotency.SQLite, MaxOutcomeBytes: -1}, "MaxOutcomeBytes is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				p := recover()
				require.NotNil(t, p)
				assert.Contains(t, p, tc.want)
				assert.True(t, strings.HasPrefix(p.(string), "idempotency: "))
			}()
			idempotency.NewSQLStore(db, tc.c)
		})
	}
	assert.PanicsWithValue(t, "idempotency: NewSQLStore with a nil *sql.DB", func() {
		idempotency.NewSQLStore(nil, idempotency.SQLConfig{Dialect: idempotency.SQLite})
	})
	assert.Equal(t, idempotency.DefaultTable, idempotency.NewSQLStore(db, idempotency.SQLConfig{Dialect: idempotency.SQLite}).Table())
	assert.Equal(t, "app.keys_1", idempotency.NewSQLStore(db, idempotency.SQLConfig{Dialect: idempotency.Postgres, Table: "app.keys_1"}).Table())
}

func TestSQLStoreSchema(t *testing.T) {
	t.Parallel()
	db := noDB()
	defer db.Close()
	for _, tc := range []struct {
		d     idempotency.Dialect
		table string
		want  []string
	}{
		{idempotency.Postgres, "app.keys", []string{`"app"."keys"`, "record_key BYTEA PRIMARY KEY", "token BYTEA", `"keys_expires" ON "app"."keys"`}},
		{idempotency.MySQL, "keys", []string{"`keys`", "VARBINARY(320)", "VARBINARY(64)", "VARBINARY(128)", "LONGBLOB", "INDEX `keys_expires`"}},
		{idempotency.SQLite, "keys", []string{`"keys"`, "record_key BLOB", `"keys_expires"`}},
	} {
		st := idempotency.NewSQLStore(db, idempotency.SQLConfig{Dialect: tc.d, Table: tc.table})
		all := strings.Join(st.Schema(), ";\n")
		for _, w := range tc.want {
			assert.Contains(t, all, w, tc.d)
		}
		assert.NotContains(t, all, "VARCHAR", "keys are bytes, compared without a collation")
		st.Schema()[0] = "changed"
		assert.NotEqual(t, "changed", st.Schema()[0], "Schema returns a copy")
	}
}

// TestSQLStoreRefusesFirst shows that what the store refuses never reaches
// the database: the *sql.DB fails every connection, and the zero *sql.Tx
// would panic when used.
func TestSQLStoreRefusesFirst(t *testing.T) {
	t.Parallel()
	db := noDB()
	defer db.Close()
	ctx, t0 := t.Context(), time.Now()
	st := idempotency.NewSQLStore(db, idempotency.SQLConfig{Dialect: idempotency.Postgres, MaxOutcomeBytes: 10})
	ok := idempotency.Record{Key: "k", Token: "t", Done: true, Expires: t0.Add(time.Hour), Outcome: []byte("0123456789")}
	big := ok
	big.Outcome = append(big.Outcome, 'x')
	require.ErrorIs(t, st.Complete(ctx, big, t0), idempotency.ErrTooLarge)
	require.ErrorIs(t, st.CompleteTx(ctx, &sql.Tx{}, big, t0), idempotency.ErrTooLarge, "refused before the transaction is used")
	require.Error(t, st.CompleteTx(ctx, nil, ok, t0))

	long := ok
	long.Key = strings.Repeat("k", idempotency.MaxStoreKeyBytes+1)
	_, acquired, err := st.Acquire(ctx, long, t0)
	require.ErrorIs(t, err, idempotency.ErrInvalidRecord)
	require.False(t, acquired)
	require.ErrorIs(t, st.CompleteTx(ctx, &sql.Tx{}, long, t0), idempotency.ErrInvalidRecord)

	for _, limit := range []int{0, -1} {
		n, err := st.Purge(ctx, t0, limit)
		require.Error(t, err)
		require.NotErrorIs(t, err, errNoDatabase)
		require.Zero(t, n)
	}

	// What passes the checks goes to the database, and its error comes back.
	require.ErrorIs(t, st.Complete(ctx, ok, t0), errNoDatabase)
}
