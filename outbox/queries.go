package outbox

import (
	"strconv"
	"strings"

	"github.com/resiliencekit/resilience/internal/sqldialect"
)

// queries holds the quoted table names of one outbox and the statements
// that do not depend on a row count, built once by New. Statements are
// written with ? placeholders and rebound for PostgreSQL.
type queries struct {
	d                                  Dialect
	table, dead, lease, fence, keylock string // quoted
	name, deadName                     string // unquoted, unqualified (index names)
	now                                string

	stats, deadCount string
	claimLock        string // take the claim lock (SQLite: with sweepLeases)
	claimFence       string // return now and the claim's number
	sweepLeases      string
	claimSelect      string
	anyDue           string // SQLite: is there a message to claim, read without the write lock
	renew, release   string
	held             string // MySQL: lock owner's leases before release
	failed           string
	deadFromOutbox   string
	purge            string
}

const msgCols = "id, topic, msg_key, payload, headers, created_at, expires_at, attempts"

func newQueries(d Dialect, table string) queries {
	_, name := sqldialect.SplitTable(table)
	qual := func(suffix string) string { return sqldialect.Qualified(d, table, suffix) }
	q := queries{
		d: d, table: qual(""), dead: qual("_dead"), lease: qual("_lease"), fence: qual("_fence"),
		keylock: qual("_keylock"), name: name, deadName: name + "_dead", now: nowExpr(d),
	}
	r := func(q string) string { return sqldialect.Rebind(d, q) }
	q.stats = "SELECT COUNT(*), COALESCE(MIN(created_at), 0), " + q.now + " FROM " + q.table + " WHERE published_at IS NULL"
	q.deadCount = "SELECT COUNT(*) FROM " + q.dead
	// The claim lock serializes the claims of all relays of the table, and
	// each claim takes the next number of the fence counter under it, so
	// that the numbers grow in the order the claims are made.
	q.sweepLeases = r("DELETE FROM " + q.lease + " WHERE until <= " + q.now)
	switch d {
	case Postgres:
		q.claimFence = r("SELECT " + q.now + ", nextval('" + q.fence + "') FROM (SELECT pg_advisory_xact_lock(?)) AS l")
	case MySQL:
		// The update of the counter's row is the lock.
		q.claimLock = "UPDATE " + q.fence + " SET n = LAST_INSERT_ID(n + 1) WHERE id = 1"
		q.claimFence = "SELECT " + q.now + ", LAST_INSERT_ID()"
	default:
		// A write first (sweepLeases), so that SQLite takes its write
		// lock at once rather than fail to upgrade a read transaction.
		q.claimLock = q.sweepLeases
		q.claimFence = "UPDATE " + q.fence + " SET n = n + 1 WHERE id = 1 RETURNING " + q.now + ", n"
	}
	q.anyDue = "SELECT 1 FROM " + q.table + " WHERE published_at IS NULL AND available_at <= " + q.now + " LIMIT 1"
	// The window: the first rows by seq among those waiting whose key no
	// other relay holds (and that no back-off marker blocks). gate is the
	// latest available_at of the rows of the key up to this one: a row may
	// go only when it and every earlier row of its key are due.
	// Then, among the due rows, a running sum of their sizes (payload and
	// headers) bounds the batch in bytes: a row goes while the rows before
	// it stay under the budget, so the first always does. Both cuts are
	// prefixes by seq, so no key loses an earlier row to a later one.
	size := "COALESCE(LENGTH(w.payload), 0) + COALESCE(LENGTH(w.headers), 0)"
	switch d {
	case Postgres:
		size = "COALESCE(octet_length(w.payload), 0) + COALESCE(octet_length(w.headers), 0)"
	case SQLite:
		size = "COALESCE(LENGTH(CAST(w.payload AS BLOB)), 0) + COALESCE(LENGTH(CAST(w.headers AS BLOB)), 0)"
	}
	q.claimSelect = r("SELECT o.seq, b.size, o." + strings.ReplaceAll(msgCols, ", ", ", o.") +
		" FROM (SELECT g.seq, g.size, SUM(g.size) OVER (ORDER BY g.seq" +
		" ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto" +
		" FROM (SELECT p.seq, p.size, MAX(p.available_at) OVER (PARTITION BY p.msg_key ORDER BY p.seq" +
		" ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS gate" +
		" FROM (SELECT w.seq, w.msg_key, w.available_at, " + size + " AS size FROM " + q.table + " w" +
		" WHERE w.published_at IS NULL AND NOT EXISTS (SELECT 1 FROM " + q.lease + " l" +
		" WHERE l.msg_key = w.msg_key AND l.until > ? AND l.owner <> ?)" +
		" ORDER BY w.seq LIMIT ?) p) g WHERE g.gate <= ?) b JOIN " + q.table + " o ON o.seq = b.seq" +
		" WHERE b.upto - b.size < ? ORDER BY b.seq LIMIT ?")
	q.renew = r("UPDATE " + q.lease + " SET until = " + q.now + " + ? WHERE owner = ?")
	q.release = r("DELETE FROM " + q.lease + " WHERE owner = ?")
	if d == MySQL {
		q.held = "SELECT msg_key FROM " + q.lease + " WHERE owner = ? FOR UPDATE"
	} else {
		q.release += " RETURNING msg_key"
	}
	q.failed = r("UPDATE " + q.table + " SET attempts = ?, last_error = ?, available_at = " + q.now + " + ? WHERE seq = ?")
	q.deadFromOutbox = r("INSERT INTO " + q.dead + " (" + msgCols + ", last_error, reason, dead_at)" +
		" SELECT id, topic, msg_key, payload, headers, created_at, expires_at, ?, ?, ?, " + q.now +
		" FROM " + q.table + " WHERE seq = ?")
	q.purge = r("DELETE FROM " + q.table + " WHERE published_at IS NOT NULL AND published_at <= " + q.now + " - ?")
	return q
}

// insert is Add's statement for n messages.
func (q *queries) insert(n int) string {
	row := "(?, ?, ?, ?, ?, " + q.now + ", ?, ?)"
	var b strings.Builder
	b.WriteString("INSERT INTO " + q.table + " (id, topic, msg_key, payload, headers, created_at, available_at, expires_at) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	return sqldialect.Rebind(q.d, b.String())
}

// upsertLeases gives n keys to a relay (args: key, owner, ttl per key).
func (q *queries) upsertLeases(n int) string {
	row := "(?, ?, " + q.now + " + ?)"
	vals := strings.TrimSuffix(strings.Repeat(row+",", n), ",")
	s := "INSERT INTO " + q.lease + " (msg_key, owner, until) VALUES " + vals
	switch q.d {
	case MySQL:
		s += " ON DUPLICATE KEY UPDATE owner = VALUES(owner), until = VALUES(until)"
	default:
		s += " ON CONFLICT (msg_key) DO UPDATE SET owner = excluded.owner, until = excluded.until"
	}
	return sqldialect.Rebind(q.d, s)
}

// markers blocks n keys for a while after a failure (args: key, delay),
// unless another relay holds them.
func (q *queries) markers(n int) string {
	row := "(?, ''," + q.now + " + ?)"
	vals := strings.TrimSuffix(strings.Repeat(row+",", n), ",")
	switch q.d {
	case MySQL:
		return "INSERT IGNORE INTO " + q.lease + " (msg_key, owner, until) VALUES " + vals
	default:
		return sqldialect.Rebind(q.d, "INSERT INTO "+q.lease+" (msg_key, owner, until) VALUES "+vals+" ON CONFLICT (msg_key) DO NOTHING")
	}
}

// deleteSeqs deletes n rows of table by seq.
func (q *queries) deleteSeqs(table string, n int) string {
	return sqldialect.Rebind(q.d, "DELETE FROM "+table+" WHERE seq IN ("+list(n)+")")
}

// markPublished keeps n published rows (retention), by seq.
func (q *queries) markPublished(n int) string {
	return sqldialect.Rebind(q.d, "UPDATE "+q.table+" SET published_at = "+q.now+" WHERE seq IN ("+list(n)+")")
}

// schema returns the statements of Migrate, in order.
func (q *queries) schema() []string {
	switch q.d {
	case Postgres:
		return q.postgresSchema()
	case MySQL:
		return q.mysqlSchema()
	default:
		return q.sqliteSchema()
	}
}

func (q *queries) idx(suffix string) string { return sqldialect.Quote(q.d, q.name+suffix) }

func (q *queries) postgresSchema() []string {
	fn := strings.TrimSuffix(q.table, `"`) + `_notify"`
	channel := strings.ReplaceAll(strings.ReplaceAll(q.table, `"`, ""), "'", "")
	return []string{
		"CREATE TABLE IF NOT EXISTS " + q.table + ` (
	seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	id TEXT COLLATE "C" NOT NULL,
	topic TEXT NOT NULL,
	msg_key TEXT COLLATE "C" NOT NULL,
	payload BYTEA,
	headers TEXT,
	created_at BIGINT NOT NULL,
	available_at BIGINT NOT NULL DEFAULT 0,
	expires_at BIGINT NOT NULL DEFAULT 0,
	attempts INTEGER NOT NULL DEFAULT 0,
	last_error TEXT,
	published_at BIGINT
)`,
		"CREATE UNIQUE INDEX IF NOT EXISTS " + q.idx("_id") + " ON " + q.table + " (id)",
		"CREATE INDEX IF NOT EXISTS " + q.idx("_waiting") + " ON " + q.table + " (seq) WHERE published_at IS NULL",
		"CREATE INDEX IF NOT EXISTS " + q.idx("_published") + " ON " + q.table + " (published_at) WHERE published_at IS NOT NULL",
		"CREATE TABLE IF NOT EXISTS " + q.lease + ` (
	msg_key TEXT COLLATE "C" PRIMARY KEY,
	owner TEXT NOT NULL,
	until BIGINT NOT NULL
)`,
		"CREATE TABLE IF NOT EXISTS " + q.dead + ` (
	seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	id TEXT COLLATE "C" NOT NULL,
	topic TEXT NOT NULL,
	msg_key TEXT COLLATE "C" NOT NULL,
	payload BYTEA,
	headers TEXT,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL DEFAULT 0,
	attempts INTEGER NOT NULL,
	last_error TEXT,
	reason TEXT NOT NULL,
	dead_at BIGINT NOT NULL
)`,
		"CREATE INDEX IF NOT EXISTS " + q.idx("_dead_id") + " ON " + q.dead + " (id)",
		"CREATE SEQUENCE IF NOT EXISTS " + q.fence,
		"CREATE OR REPLACE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('" +
			channel + "', ''); RETURN NULL; END $$",
		"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '" + q.name + "_notify' AND tgrelid = '" +
			q.table + "'::regclass) THEN CREATE TRIGGER " + q.idx("_notify") + " AFTER INSERT ON " + q.table +
			" FOR EACH STATEMENT EXECUTE FUNCTION " + fn + "(); END IF; END $$",
	}
}

func (q *queries) mysqlSchema() []string {
	const opts = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
	return []string{
		"CREATE TABLE IF NOT EXISTS " + q.table + ` (
	seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	id VARCHAR(` + strconv.Itoa(MaxIDLen) + `) NOT NULL,
	topic VARCHAR(` + strconv.Itoa(MaxTopicLen) + `) NOT NULL,
	msg_key VARCHAR(` + strconv.Itoa(MaxKeyLen) + `) NOT NULL,
	payload LONGBLOB,
	headers MEDIUMTEXT,
	created_at BIGINT NOT NULL,
	available_at BIGINT NOT NULL DEFAULT 0,
	expires_at BIGINT NOT NULL DEFAULT 0,
	attempts INT NOT NULL DEFAULT 0,
	last_error TEXT,
	published_at BIGINT NULL,
	UNIQUE KEY ` + q.idx("_id") + ` (id),
	KEY ` + q.idx("_waiting") + ` (published_at, seq)
)` + opts,
		"CREATE TABLE IF NOT EXISTS " + q.lease + ` (
	msg_key VARCHAR(` + strconv.Itoa(MaxKeyLen) + `) NOT NULL PRIMARY KEY,
	owner VARCHAR(` + strconv.Itoa(MaxIDLen) + `) NOT NULL,
	until BIGINT NOT NULL
)` + opts,
		"CREATE TABLE IF NOT EXISTS " + q.dead + ` (
	seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	id VARCHAR(` + strconv.Itoa(MaxIDLen) + `) NOT NULL,
	topic VARCHAR(` + strconv.Itoa(MaxTopicLen) + `) NOT NULL,
	msg_key VARCHAR(` + strconv.Itoa(MaxKeyLen) + `) NOT NULL,
	payload LONGBLOB,
	headers MEDIUMTEXT,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL DEFAULT 0,
	attempts INT NOT NULL,
	last_error TEXT,
	reason VARCHAR(32) NOT NULL,
	dead_at BIGINT NOT NULL,
	KEY ` + q.idx("_dead_id") + ` (id)
)` + opts,
		"CREATE TABLE IF NOT EXISTS " + q.fence + " (id INT NOT NULL PRIMARY KEY, n BIGINT NOT NULL)" + opts,
		"INSERT IGNORE INTO " + q.fence + " (id, n) VALUES (1, 0)",
		"CREATE TABLE IF NOT EXISTS " + q.keylock + " (k BIGINT NOT NULL PRIMARY KEY)" + opts,
	}
}

func (q *queries) sqliteSchema() []string {
	return []string{
		"CREATE TABLE IF NOT EXISTS " + q.table + ` (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	id TEXT NOT NULL,
	topic TEXT NOT NULL,
	msg_key TEXT NOT NULL,
	payload BLOB,
	headers TEXT,
	created_at INTEGER NOT NULL,
	available_at INTEGER NOT NULL DEFAULT 0,
	expires_at INTEGER NOT NULL DEFAULT 0,
	attempts INTEGER NOT NULL DEFAULT 0,
	last_error TEXT,
	published_at INTEGER
)`,
		"CREATE UNIQUE INDEX IF NOT EXISTS " + q.idx("_id") + " ON " + q.table + " (id)",
		"CREATE INDEX IF NOT EXISTS " + q.idx("_waiting") + " ON " + q.table + " (seq) WHERE published_at IS NULL",
		"CREATE INDEX IF NOT EXISTS " + q.idx("_published") + " ON " + q.table + " (published_at) WHERE published_at IS NOT NULL",
		"CREATE TABLE IF NOT EXISTS " + q.lease + ` (
	msg_key TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	until INTEGER NOT NULL
)`,
		"CREATE TABLE IF NOT EXISTS " + q.dead + ` (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	id TEXT NOT NULL,
	topic TEXT NOT NULL,
	msg_key TEXT NOT NULL,
	payload BLOB,
	headers TEXT,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL DEFAULT 0,
	attempts INTEGER NOT NULL,
	last_error TEXT,
	reason TEXT NOT NULL,
	dead_at INTEGER NOT NULL
)`,
		"CREATE INDEX IF NOT EXISTS " + q.idx("_dead_id") + " ON " + q.dead + " (id)",
		"CREATE TABLE IF NOT EXISTS " + q.fence + " (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
		"INSERT OR IGNORE INTO " + q.fence + " (id, n) VALUES (1, 0)",
	}
}
