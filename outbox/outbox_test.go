package outbox

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noDB is a *sql.DB whose connections always fail: enough for the checks
// made before any statement runs.
func noDB() *sql.DB { return sql.OpenDB(failConnector{}) }

type failConnector struct{}

func (failConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("no database")
}
func (failConnector) Driver() driver.Driver { return nil }

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		require.Regexp(t, uuidV7, id)
		require.False(t, seen[id], "unique")
		seen[id] = true
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var ids []string
		for range 50 {
			ids = append(ids, NewID())
			time.Sleep(time.Millisecond / 3) // finer than a millisecond
		}
		assert.True(t, slices.IsSorted(ids))
		ms := time.Now().Add(-time.Millisecond / 3).UnixMilli()
		assert.Equal(t, ms>>16&0xffffffff, hexVal(t, ids[len(ids)-1][:8]), "first 32 bits: milliseconds")
	})
}

func hexVal(t *testing.T, s string) int64 {
	var v int64
	for _, c := range s {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= int64(c - '0')
		default:
			v |= int64(c-'a') + 10
		}
	}
	return v
}

// TestDialect checks the names; quoting and rebinding are tested in
// internal/sqldialect, whose Dialect this one is.
func TestDialect(t *testing.T) {
	t.Parallel()
	for d, name := range map[Dialect]string{Postgres: "postgres", MySQL: "mysql", SQLite: "sqlite", Dialect(9): "Dialect(9)"} {
		assert.Equal(t, name, d.String())
	}
}

func TestNewPanics(t *testing.T) {
	t.Parallel()
	db := noDB()
	defer db.Close()
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"no dialect", Config{}, "outbox: Config.Dialect must be Postgres, MySQL or SQLite, not Dialect(0)"},
		{"injection", Config{Dialect: Postgres, Table: `x"; DROP TABLE users; --`}, "invalid table name"},
		{"digit first", Config{Dialect: MySQL, Table: "1outbox"}, "invalid table name"},
		{"two dots", Config{Dialect: Postgres, Table: "a.b.c"}, "invalid table name"},
		{"too long", Config{Dialect: Postgres, Table: strings.Repeat("t", 55)}, "too long"},
		{"sqlite schema", Config{Dialect: SQLite, Table: "main.outbox"}, "cannot be schema-qualified"},
		{"negative max message", Config{Dialect: SQLite, MaxMessageBytes: -1}, "MaxMessageBytes is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				p := recover()
				require.NotNil(t, p)
				assert.Contains(t, p, tc.want)
				assert.True(t, strings.HasPrefix(p.(string), "outbox: "))
			}()
			New(db, tc.c)
		})
	}
	assert.PanicsWithValue(t, "outbox: New with a nil *sql.DB", func() { New(nil, Config{Dialect: SQLite}) })
	assert.PanicsWithValue(t, "outbox: NewInbox with a nil *sql.DB", func() { NewInbox(nil, InboxConfig{Dialect: SQLite}) })
	assert.Panics(t, func() { NewInbox(db, InboxConfig{}) })
	assert.Panics(t, func() { NewInbox(db, InboxConfig{Dialect: MySQL, Table: "in box"}) })

	ob := New(db, Config{Dialect: Postgres, Table: "events.outbox_1"})
	assert.Equal(t, "events.outbox_1", ob.Table())
	assert.Equal(t, Postgres, ob.Dialect())
	assert.Same(t, db, ob.DB())
	assert.Equal(t, DefaultTable, New(db, Config{Dialect: SQLite}).Table())
}

func TestAddChecksMessages(t *testing.T) {
	t.Parallel()
	db := noDB()
	defer db.Close()
	ob := New(db, Config{Dialect: SQLite})
	ctx := context.Background()
	long := strings.Repeat("x", 256)
	for _, tc := range []struct {
		name string
		m    Message
		want string
	}{
		{"no topic", Message{}, "empty topic"},
		{"long topic", Message{Topic: long}, "topic longer than 255 bytes"},
		{"long key", Message{Topic: "t", Key: long}, "key longer than 255 bytes"},
		{"long id", Message{Topic: "t", ID: long[:65]}, "id longer than 64 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msgs := []Message{{Topic: "ok"}, tc.m}
			err := ob.Add(ctx, &sql.Tx{}, msgs...)
			require.ErrorIs(t, err, ErrInvalidMessage)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, msgs[0].ID, "nothing changed when a message is refused")
		})
	}
	require.NoError(t, ob.Add(ctx, nil), "no messages, nothing to do")
	require.ErrorIs(t, ob.Add(ctx, nil, Message{Topic: "t"}), ErrInvalidMessage)
	require.ErrorIs(t, ob.Add(ctx, (*sql.Tx)(nil), Message{Topic: "t"}), ErrInvalidMessage, "a typed nil is refused, not dereferenced")
}

func TestSchemaQuotesNames(t *testing.T) {
	t.Parallel()
	db := noDB()
	defer db.Close()
	for _, tc := range []struct {
		d     Dialect
		table string
		want  []string
	}{
		{Postgres, "app.events", []string{`"app"."events"`, `"app"."events_dead"`, `"app"."events_lease"`, `"app"."events_fence"`, `"events_waiting"`, `pg_notify('app.events'`}},
		{MySQL, "events", []string{"`events`", "`events_dead`", "`events_lease`", "`events_fence`", "`events_keylock`", "utf8mb4_bin"}},
		{SQLite, "events", []string{`"events"`, `"events_dead"`, `"events_lease"`, `"events_fence"`, "AUTOINCREMENT"}},
	} {
		t.Run(tc.d.String(), func(t *testing.T) {
			t.Parallel()
			all := strings.Join(New(db, Config{Dialect: tc.d, Table: tc.table}).Schema(), "\n")
			for _, w := range tc.want {
				assert.Contains(t, all, w)
			}
			assert.NotContains(t, all, "?")
		})
	}
}

func TestQueriesPlaceholders(t *testing.T) {
	t.Parallel()
	q := newQueries(Postgres, "outbox")
	assert.Contains(t, q.claimSelect, "LIMIT $3) p)")
	assert.Contains(t, q.claimSelect, "g.gate <= $4) b")
	assert.Contains(t, q.claimSelect, "b.upto - b.size < $5 ORDER BY b.seq LIMIT $6")
	assert.Equal(t, 14, strings.Count(q.insert(2), "$"))
	assert.Contains(t, q.upsertLeases(2), "$6")
	mq := newQueries(MySQL, "outbox")
	assert.Contains(t, mq.markers(1), "INSERT IGNORE")
}

func TestFilterWhere(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f    Filter
		sql  string
		args []any
	}{
		{Filter{}, " ORDER BY seq", nil},
		{Filter{Limit: 5}, " ORDER BY seq LIMIT 5", nil},
		{Filter{IDs: []string{"a", "b"}, Reason: ReasonExpired}, " WHERE id IN (?,?) AND reason = ? ORDER BY seq", []any{"a", "b", "expired"}},
		{Filter{Topic: "t", Key: "k"}, " WHERE topic = ? AND msg_key = ? ORDER BY seq", []any{"t", "k"}},
	} {
		sql, args := tc.f.where()
		assert.Equal(t, tc.sql, sql)
		assert.Equal(t, tc.args, args)
	}
}

func TestHeadersRoundTrip(t *testing.T) {
	t.Parallel()
	v, err := encodeHeaders(nil)
	require.NoError(t, err)
	assert.Nil(t, v)
	v, err = encodeHeaders(map[string]string{"a": "1", "b": `"quoted"`})
	require.NoError(t, err)
	h, err := decodeHeaders(sql.NullString{String: v.(string), Valid: true})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "1", "b": `"quoted"`}, h)
	_, err = decodeHeaders(sql.NullString{String: "{", Valid: true})
	assert.Error(t, err)
	assert.Equal(t, time.Time{}, fromMicros(micros(time.Time{})))
	now := time.Now().Truncate(time.Microsecond)
	assert.True(t, now.Equal(fromMicros(micros(now))))
}

func TestPublisherFuncContract(t *testing.T) {
	t.Parallel()
	var calls []string
	pub := PublisherFunc(func(ctx context.Context, m Message) error {
		calls = append(calls, string(m.Payload))
		if string(m.Payload) == "a1" {
			return errors.New("nack")
		}
		return nil
	})
	msgs := []Message{{Key: "a", Payload: []byte("a0")}, {Key: "a", Payload: []byte("a1")}, {Key: "b", Payload: []byte("b0")}, {Key: "a", Payload: []byte("a2")}}
	errs := make([]error, len(msgs))
	pub.Publish(context.Background(), msgs, errs)
	assert.Equal(t, []string{"a0", "a1", "b0"}, calls, "nothing of a after its failure")
	assert.NoError(t, errs[0])
	assert.EqualError(t, errs[1], "nack")
	assert.NoError(t, errs[2])
	assert.ErrorIs(t, errs[3], ErrNotSent)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pub.Publish(ctx, msgs[:1], errs[:1])
	assert.ErrorIs(t, errs[0], context.Canceled)
}

func TestMemoryPublisher(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := NewMemoryPublisher()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var wg sync.WaitGroup
		var got []Message
		wg.Go(func() {
			var err error
			got, err = p.Wait(ctx, 2)
			assert.NoError(t, err)
		})
		errs := make([]error, 2)
		p.SetFailure(func(m Message) error {
			if m.Key == "bad" {
				return errors.New("refused")
			}
			return nil
		})
		p.Publish(ctx, []Message{{Key: "a"}, {Key: "bad"}}, errs)
		assert.Error(t, errs[1])
		p.SetFailure(nil)
		p.Publish(ctx, []Message{{Key: "bad"}}, errs[:1])
		wg.Wait()
		assert.Len(t, got, 2)
		assert.Equal(t, 2, p.Len())
		_, err := p.Wait(ctx, 3)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestLocalNotifier(t *testing.T) {
	t.Parallel()
	n := NewLocalNotifier()
	c1, cancel1 := n.Subscribe()
	c2, cancel2 := n.Subscribe()
	n.Notify()
	n.Notify() // coalesces
	assert.Len(t, c1, 1)
	assert.Len(t, c2, 1)
	<-c1
	cancel1()
	n.Notify()
	assert.Empty(t, c1)
	cancel2()
}
