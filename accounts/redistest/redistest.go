// Package redistest starts a real redis-server for tests: on a free
// loopback port, in a temporary directory, without persistence, stopped
// when the test ends. A missing redis-server is a test failure that says
// how to install it, never a skip.
package redistest

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is one redis-server process.
type Server struct {
	tb   testing.TB
	dir  string
	port int
	aof  bool

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start runs redis-server and waits until it answers.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, dir: tb.TempDir(), port: FreePort(tb)}
	s.start()
	tb.Cleanup(s.Stop)
	return s
}

// StartPersistent is Start with an append-only file fsynced on every write,
// as production Redis runs: Restart keeps the data.
func StartPersistent(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, dir: tb.TempDir(), port: FreePort(tb), aof: true}
	s.start()
	tb.Cleanup(s.Stop)
	return s
}

// URL is the redis:// URL of database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *Server) start() {
	s.tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		s.tb.Fatalf("redis-server not found (%v): `make test` installs it with apt-get (Debian package redis-server)", err)
	}
	aof := []string{"--appendonly", "no"}
	if s.aof {
		aof = []string{"--appendonly", "yes", "--appendfsync", "always"}
	}
	cmd := exec.Command(bin, append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--dir", s.dir, "--save", "", "--protected-mode", "yes",
		"--daemonize", "no", "--loglevel", "warning"}, aof...)...)
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("starting redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s.ping() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	s.tb.Fatalf("redis-server on %s did not answer within 10s", s.Addr())
}

func (s *Server) ping() bool {
	c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// Stop kills the server (an outage, as far as clients can tell).
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// Restart starts the server again on the same port: empty after Start, as
// after a crash without persistence; with its data after StartPersistent.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.start()
}

// FreePort returns a loopback port nothing listens on, for a server a test
// is about to start. It is drawn below the kernel's ephemeral range
// (32768 and up on Linux): a port the kernel handed out and took back
// (listen on :0, close) is soon handed to an outgoing connection or
// another test's :0, and the server then fails to bind, or a probe reaches
// someone else's server.
func FreePort(tb testing.TB) int {
	tb.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return port
		}
	}
	tb.Fatal("no free loopback port between 20000 and 32000")
	return 0
}

// String helps in failure messages.
func (s *Server) String() string { return fmt.Sprintf("redis-server %s", s.Addr()) }
