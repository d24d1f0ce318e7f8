package idempotency

import (
	"github.com/resiliencekit/resilience/internal/sqldialect"
)

// sqlQueries holds the statements of one SQLStore, built once by
// NewSQLStore with ? placeholders and rebound for PostgreSQL.
//
// Columns: record_key, token and fingerprint are binary strings compared
// byte for byte (no collation folds case or pads spaces); done is a
// boolean; expires_ms is Record.Expires in milliseconds since the Unix
// epoch; outcome is NULL while the record is in progress.
type sqlQueries struct {
	schema []string
	// acquire inserts a record in progress, or takes over the stored one
	// when it expired. PostgreSQL and SQLite: args key, token,
	// fingerprint, expires, now; one row affected when it acquired.
	// MySQL: see acquireArgs.
	acquire string
	// selectLive reads the record of a key: token, fingerprint, done,
	// expires_ms, outcome.
	selectLive string
	// complete, extend and release act on the record in progress of a
	// key under a token.
	complete, extend, release string
	// held tells whether the record in progress of a key under a token is
	// stored (MySQL, after an extend that changed nothing).
	held string
	// purge deletes at most a number of records expired at now.
	purge string
}

func newSQLQueries(d Dialect, table string) sqlQueries {
	t := sqldialect.Qualified(d, table, "")
	_, name := sqldialect.SplitTable(table)
	idx := sqldialect.Quote(d, name+"_expires")
	cols := " (record_key, token, fingerprint, done, expires_ms, outcome) VALUES (?, ?, ?, FALSE, ?, NULL)"
	var q sqlQueries
	switch d {
	case Postgres:
		q.schema = []string{
			"CREATE TABLE IF NOT EXISTS " + t + ` (
	record_key BYTEA PRIMARY KEY,
	token BYTEA NOT NULL,
	fingerprint BYTEA NOT NULL,
	done BOOLEAN NOT NULL,
	expires_ms BIGINT NOT NULL,
	outcome BYTEA
)`,
			"CREATE INDEX IF NOT EXISTS " + idx + " ON " + t + " (expires_ms)",
		}
	case MySQL:
		// VARBINARY, not VARCHAR: MySQL's collations are case-insensitive
		// and pad with spaces, which would make "A", "a" and "a " one key.
		q.schema = []string{
			"CREATE TABLE IF NOT EXISTS " + t + ` (
	record_key VARBINARY(320) NOT NULL PRIMARY KEY,
	token VARBINARY(64) NOT NULL,
	fingerprint VARBINARY(128) NOT NULL,
	done BOOLEAN NOT NULL,
	expires_ms BIGINT NOT NULL,
	outcome LONGBLOB,
	INDEX ` + idx + ` (expires_ms)
) ENGINE=InnoDB`,
		}
	default:
		q.schema = []string{
			"CREATE TABLE IF NOT EXISTS " + t + ` (
	record_key BLOB NOT NULL PRIMARY KEY,
	token BLOB NOT NULL,
	fingerprint BLOB NOT NULL,
	done BOOLEAN NOT NULL,
	expires_ms INTEGER NOT NULL,
	outcome BLOB
)`,
			"CREATE INDEX IF NOT EXISTS " + idx + " ON " + t + " (expires_ms)",
		}
	}
	if d == MySQL {
		// One statement inserts or takes over an expired record. The
		// assignments run left to right and each sees the columns set
		// before it, so expires_ms, which all of them test, comes last.
		take := "IF(expires_ms <= ?, "
		q.acquire = "INSERT INTO " + t + cols + " ON DUPLICATE KEY UPDATE" +
			" token = " + take + "?, token)," +
			" fingerprint = " + take + "?, fingerprint)," +
			" done = " + take + "FALSE, done)," +
			" outcome = " + take + "NULL, outcome)," +
			" expires_ms = " + take + "?, expires_ms)"
		q.purge = "DELETE FROM " + t + " WHERE expires_ms <= ? ORDER BY expires_ms LIMIT ?"
	} else {
		q.acquire = "INSERT INTO " + t + " AS cur" + cols + " ON CONFLICT (record_key) DO UPDATE SET" +
			" token = excluded.token, fingerprint = excluded.fingerprint, done = FALSE," +
			" expires_ms = excluded.expires_ms, outcome = NULL WHERE cur.expires_ms <= ?"
		// The outer test of expires_ms is checked again on PostgreSQL
		// against a row that an Acquire took over meanwhile, so a record
		// just taken over is never purged.
		q.purge = "DELETE FROM " + t + " WHERE expires_ms <= ? AND record_key IN" +
			" (SELECT record_key FROM " + t + " WHERE expires_ms <= ? ORDER BY expires_ms LIMIT ?)"
	}
	held := " WHERE record_key = ? AND token = ? AND NOT done"
	q.selectLive = "SELECT token, fingerprint, done, expires_ms, outcome FROM " + t + " WHERE record_key = ?"
	q.complete = "UPDATE " + t + " SET done = TRUE, outcome = ?, fingerprint = ?, expires_ms = ?" + held
	q.extend = "UPDATE " + t + " SET expires_ms = ?" + held
	q.release = "DELETE FROM " + t + held
	q.held = "SELECT 1 FROM " + t + held
	r := func(s *string) { *s = sqldialect.Rebind(d, *s) }
	for _, s := range []*string{&q.acquire, &q.selectLive, &q.complete, &q.extend, &q.release, &q.held, &q.purge} {
		r(s)
	}
	return q
}

// acquireArgs returns the arguments of sqlQueries.acquire.
func acquireArgs(d Dialect, key, token, fp []byte, expires, now int64) []any {
	if d == MySQL {
		return []any{key, token, fp, expires, now, token, now, fp, now, now, now, expires}
	}
	return []any{key, token, fp, expires, now}
}
