package sqldialect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDialect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d                  Dialect
		name, quoted, bind string
		valid              bool
	}{
		{Postgres, "postgres", `"s"."t_x"`, "a = $1 AND b IN ($2,$3)", true},
		{MySQL, "mysql", "`s`.`t_x`", "a = ? AND b IN (?,?)", true},
		{SQLite, "sqlite", `"s"."t_x"`, "a = ? AND b IN (?,?)", true},
		{Dialect(0), "Dialect(0)", `"s"."t_x"`, "a = ? AND b IN (?,?)", false},
		{Dialect(9), "Dialect(9)", `"s"."t_x"`, "a = ? AND b IN (?,?)", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.name, tc.d.String())
			assert.Equal(t, tc.valid, Valid(tc.d))
			assert.Equal(t, tc.quoted, Qualified(tc.d, "s.t", "_x"))
			assert.Equal(t, tc.bind, Rebind(tc.d, "a = ? AND b IN (?,?)"))
		})
	}
	assert.Equal(t, `"t"`, Qualified(SQLite, "t", ""))
}

func TestCheckTable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d          Dialect
		name, want string
	}{
		{Postgres, `x"; DROP TABLE users; --`, "invalid table name"},
		{MySQL, "1t", "invalid table name"},
		{Postgres, "a.b.c", "invalid table name"},
		{Postgres, "", "invalid table name"},
		{Postgres, strings.Repeat("t", MaxTable+1), "too long"},
		{Postgres, strings.Repeat("s", 64) + ".t", "too long"},
		{SQLite, "main.t", "cannot be schema-qualified"},
	} {
		func() {
			defer func() {
				p := recover()
				require.NotNil(t, p, "%q", tc.name)
				assert.Contains(t, p, tc.want)
				assert.True(t, strings.HasPrefix(p.(string), "pkg: "))
			}()
			CheckTable("pkg", tc.d, tc.name)
		}()
	}
	assert.NotPanics(t, func() { CheckTable("pkg", Postgres, "app.t_1") })
	assert.NotPanics(t, func() { CheckTable("pkg", SQLite, strings.Repeat("t", MaxTable)) })
}

type codeErr int

func (e codeErr) Error() string { return fmt.Sprintf("code %d", int(e)) }
func (e codeErr) Code() int     { return int(e) }

func TestRetryBusy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		busy bool
	}{
		{codeErr(5), true},        // SQLITE_BUSY
		{codeErr(5 | 2<<8), true}, // SQLITE_BUSY_SNAPSHOT
		{codeErr(6), true},        // SQLITE_LOCKED
		{fmt.Errorf("store: %w", codeErr(5)), true},
		{codeErr(1), false},                       // SQLITE_ERROR
		{codeErr(19), false},                      // SQLITE_CONSTRAINT
		{errors.New("database is locked"), false}, // never by text
		{nil, false},
	} {
		assert.Equal(t, tc.busy, Busy(tc.err), "%v", tc.err)
	}
	synctest.Test(t, testRetryBusy)
}

func testRetryBusy(t *testing.T) {
	ctx := t.Context()
	n := 0
	err := RetryBusy(ctx, 3, func() error { n++; return codeErr(5) })
	assert.Equal(t, codeErr(5), err)
	assert.Equal(t, 3, n, "at most attempts calls")

	n = 0
	err = RetryBusy(ctx, 0, func() error {
		if n++; n < 3 {
			return codeErr(5)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	n = 0
	other := errors.New("other")
	assert.Equal(t, other, RetryBusy(ctx, 0, func() error { n++; return other }))
	assert.Equal(t, 1, n, "an error that is not Busy is returned at once")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	n = 0
	assert.Equal(t, codeErr(5), RetryBusy(cctx, 0, func() error { n++; return codeErr(5) }))
	assert.Equal(t, 1, n, "an ended context stops the retries")
}
