// Package embedded runs a NATS server with JetStream inside the current
// process, so that the outbox quickstart, examples and tests need no NATS
// installation. It is a module of its own
// (github.com/resiliencekit/resilience/outbox/nats/embedded), so that
// nats-server and its dependencies are in the module graph only of the
// programs that import it, not of every user of outbox/nats.
//
// It is meant for development, tests and single-process deployments: the
// server listens on the loopback interface only and keeps its JetStream
// data in a directory of the caller's choice (a temporary one by default).
//
//	srv, err := embedded.Start(embedded.Config{})
//	if err != nil { ... }
//	defer srv.Shutdown()
//	nc, err := nats.Connect(srv.URL())
package embedded

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config configures an embedded server. The zero value is ready to use: a
// random free port on 127.0.0.1 and JetStream data in a temporary directory
// removed at Shutdown.
type Config struct {
	// Host is the address to listen on. Default "127.0.0.1".
	Host string
	// Port is the client port. Zero picks a free port; set it (for example
	// to a previous server's Port) to restart a server on the same address,
	// so that clients reconnect to it.
	Port int
	// Dir is where JetStream keeps its data. Empty means a new temporary
	// directory, removed by Shutdown. A directory given here is kept, so a
	// server started again on it finds its streams and messages.
	Dir string
	// ServerName names the server (it appears in JetStream metadata).
	// Default "outbox-embedded".
	ServerName string
	// ReadyTimeout bounds how long Start waits for the server to accept
	// connections. Default 10s.
	ReadyTimeout time.Duration
	// Log, when true, sends the server's log to standard error.
	Log bool
}

// Server is a running embedded NATS server. Its methods are safe for
// concurrent use.
type Server struct {
	srv     *server.Server
	port    int
	dir     string
	tempDir bool
}

// Start starts a server and waits until it accepts client connections.
func Start(cfg Config) (*Server, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = server.RANDOM_PORT
	}
	if cfg.Port < 0 && cfg.Port != server.RANDOM_PORT {
		return nil, fmt.Errorf("embedded: invalid port %d", cfg.Port)
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "outbox-embedded"
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	s := &Server{dir: cfg.Dir}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "outbox-nats-*")
		if err != nil {
			return nil, fmt.Errorf("embedded: %w", err)
		}
		s.dir, s.tempDir = d, true
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   s.dir,
		NoSigs:     true,
		NoLog:      !cfg.Log,
		// Keep HTTP monitoring, clustering and leaf nodes off.
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("embedded: %w", err)
	}
	if cfg.Log {
		srv.ConfigureLogger()
	}
	s.srv = srv
	srv.Start()
	if !srv.ReadyForConnections(cfg.ReadyTimeout) {
		s.Shutdown()
		return nil, errors.New("embedded: server not ready within " + cfg.ReadyTimeout.String())
	}
	if a, ok := srv.Addr().(*net.TCPAddr); ok {
		s.port = a.Port
	}
	return s, nil
}

// URL is the client URL of the server, e.g. "nats://127.0.0.1:41234".
func (s *Server) URL() string { return s.srv.ClientURL() }

// Port is the client port the server listens on.
func (s *Server) Port() int { return s.port }

// Dir is the JetStream data directory.
func (s *Server) Dir() string { return s.dir }

// NATS returns the underlying server, for what this package does not cover.
func (s *Server) NATS() *server.Server { return s.srv }

// Shutdown stops the server, waits until it has stopped and, if Start made
// the data directory, removes it. Clients see a disconnect and reconnect if
// a server is started again on the same port. Calling Shutdown twice is
// harmless.
func (s *Server) Shutdown() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
	s.removeTemp()
}

func (s *Server) removeTemp() {
	if s.tempDir {
		os.RemoveAll(s.dir)
	}
}
