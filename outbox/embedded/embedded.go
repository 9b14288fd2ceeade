// Package embedded runs a NATS server with JetStream inside this process
// (github.com/nats-io/nats-server/v2): for `posbridge demo --fleet` and for
// tests, never for a shop's production uplink.
package embedded

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a running embedded NATS server.
type Server struct {
	srv  *server.Server
	opts server.Options
	url  string
}

// Start runs a server on 127.0.0.1:port (a free port when 0) keeping
// JetStream's files in dir. It returns once clients can connect.
func Start(dir string, port int) (*Server, error) {
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := server.Options{
		ServerName: "posbridge-embedded",
		Host:       "127.0.0.1", Port: port,
		JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true,
	}
	s := &Server{opts: opts}
	if err := s.start(); err != nil {
		return nil, err
	}
	// A restart takes the same port, so clients reconnect to it.
	_, p, _ := net.SplitHostPort(s.srv.Addr().String())
	s.opts.Port, _ = strconv.Atoi(p)
	s.url = "nats://" + net.JoinHostPort(opts.Host, p)
	return s, nil
}

func (s *Server) start() error {
	opts := s.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		return fmt.Errorf("nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return errors.New("nats-server: not ready after 10s")
	}
	s.srv = srv
	return nil
}

// URL is the client URL, nats://127.0.0.1:PORT.
func (s *Server) URL() string { return s.url }

// Stop shuts the server down and waits; the stream stays in dir. Calls
// after the first do nothing.
func (s *Server) Stop() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// Restart starts a stopped server again on the same port and directory.
func (s *Server) Restart() error {
	if s.srv != nil {
		return errors.New("nats-server: already running")
	}
	return s.start()
}
