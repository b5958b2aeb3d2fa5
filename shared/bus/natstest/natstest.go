// Package natstest runs a real nats-server with JetStream for tests.
//
// The binary is found through $REFRACT_NATS_SERVER, then PATH, then
// /usr/sbin/nats-server (Debian's nats-server package). When there is none
// the test is skipped, unless REFRACT_REQUIRE_NATS=1, which makes it fail:
// make test sets it, so a missing server cannot pass for a green suite.
//
// Every server listens on 127.0.0.1 only, on a free port, with its
// JetStream store in the test's temporary directory and no monitoring or
// cluster listeners.
package natstest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one nats-server process, restartable on the same port and store.
type Server struct {
	t    testing.TB
	bin  string
	port int
	dir  string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *syncBuffer
	// exited is closed when cmd's process has been waited for.
	exited chan struct{}
}

// Binary returns the nats-server to run, or "" when there is none.
func Binary() string {
	if p := os.Getenv("REFRACT_NATS_SERVER"); p != "" {
		return p
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	return ""
}

// Start runs a JetStream-enabled nats-server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv("REFRACT_REQUIRE_NATS") == "1" {
			t.Fatal("natstest: nats-server not found (set REFRACT_NATS_SERVER or install the nats-server package) and REFRACT_REQUIRE_NATS=1")
		}
		t.Skip("natstest: nats-server not found; install the nats-server package or set REFRACT_NATS_SERVER")
	}
	s := &Server{t: t, bin: bin, port: freePort(t), dir: t.TempDir()}
	t.Cleanup(s.Stop)
	s.start()
	return s
}

// URL is the client URL, nats://127.0.0.1:<port>.
func (s *Server) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the client port, the same across restarts.
func (s *Server) Port() int { return s.port }

// StoreDir is the JetStream store directory, the same across restarts.
func (s *Server) StoreDir() string { return s.dir }

// Stop shuts the server down (SIGTERM, then SIGKILL after 5s) and waits
// for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Restart stops the server if it runs and starts it again on the same
// port and store directory, so streams and their messages survive.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Log is what the server has written so far, for failure messages.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

func (s *Server) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &syncBuffer{}
	cmd := exec.Command(s.bin,
		"-js", "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-sd", s.dir,
		"-n", fmt.Sprintf("natstest-%d", s.port))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("natstest: start %s: %v", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.out, s.exited = cmd, out, exited

	// The client listener opens after JetStream has recovered its
	// streams, so the INFO line means the server is fully up.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ready(s.port) {
			return
		}
		select {
		case <-exited:
			s.cmd = nil
			s.t.Fatalf("natstest: %s exited at start:\n%s", s.bin, out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			s.cmd = nil
			s.t.Fatalf("natstest: %s not accepting on 127.0.0.1:%d after 10s:\n%s", s.bin, s.port, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ready reports whether a NATS server answers on port with its INFO line.
func ready(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "INFO ")
}

// freePort asks the kernel for a free port on 127.0.0.1. Another process
// could take it before the server binds it; on a test machine that is rare
// and shows as a clear start failure.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("natstest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
