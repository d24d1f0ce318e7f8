// Package testenv finds the real services that integration tests use
// (PostgreSQL, MariaDB, Redis, RabbitMQ, NATS) through environment variables
// with the defaults of the development machines. When a service does not
// answer, the test is skipped with a message that says how to start it; under
// CI=true a missing service fails the test instead, so CI never passes by
// skipping.
package testenv

import (
	"net"
	"os"
	"testing"
	"time"
)

// A Service is one server an integration test talks to.
type Service struct {
	Name string // for messages, e.g. "Redis"
	Env  string // environment variable that overrides Default
	// Default is the address or URL used when Env is empty.
	Default string
	// Addr is host:port to probe; empty means Default is host:port.
	Addr string
}

// The services of the development and CI machines.
var (
	Redis    = Service{Name: "Redis", Env: "REDIS_ADDR", Default: "127.0.0.1:6379"}
	Postgres = Service{Name: "PostgreSQL", Env: "POSTGRES_DSN",
		Default: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", Addr: "127.0.0.1:5432"}
	MySQL = Service{Name: "MariaDB", Env: "MYSQL_DSN",
		Default: "root@tcp(127.0.0.1:3306)/test?parseTime=true", Addr: "127.0.0.1:3306"}
	RabbitMQ = Service{Name: "RabbitMQ", Env: "RABBITMQ_URL",
		Default: "amqp://guest:guest@127.0.0.1:5672/", Addr: "127.0.0.1:5672"}
	NATS = Service{Name: "NATS", Env: "NATS_URL", Default: "nats://127.0.0.1:4222", Addr: "127.0.0.1:4222"}
)

// Require returns the address (or DSN/URL) of s for the test. When the
// variable is set it is used as is; otherwise the default address must
// accept a TCP connection within two seconds. If it does not, the test is
// skipped, or failed when the environment variable CI is "true".
func Require(t testing.TB, s Service) string {
	t.Helper()
	if v := os.Getenv(s.Env); v != "" {
		return v
	}
	addr := s.Addr
	if addr == "" {
		addr = s.Default
	}
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		conn.Close()
		return s.Default
	}
	msg := s.Name + " is not reachable at " + addr + " (" + err.Error() + "); start it with scripts/services.sh or set " + s.Env
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
