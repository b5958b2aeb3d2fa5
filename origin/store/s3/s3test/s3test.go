// Package s3test runs a real S3 server for tests: MinIO by default, or
// versitygw with REFRACT_S3_SERVER=versitygw, from a binary built once per
// machine by `make minio` / `make versitygw`. Each Start gets its own
// process on a free 127.0.0.1 port, its own data directory and a fresh
// bucket. (MinIO also listens on [::1] with the same port: it binds every
// loopback address, which cannot be turned off.)
//
// Environment:
//
//	REFRACT_S3_SERVER   minio (default) or versitygw
//	REFRACT_MINIO       MinIO binary (default ~/.cache/refract/bin/minio-<MinioVersion>)
//	REFRACT_VERSITYGW   versitygw binary (default ~/.cache/refract/bin/versitygw-<VersityGWVersion>)
//	REFRACT_REQUIRE_S3  1: a missing binary fails the test instead of skipping it
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	s3store "github.com/refract-cdn/refract/origin/store/s3"
)

// The pinned server versions; the Makefile builds the same ones.
const (
	MinioVersion     = "v0.0.0-20260212201848-7aac2a2c5b7c"
	VersityGWVersion = "v1.8.0"
)

const (
	accessKey = "refract-test"
	secretKey = "refract-test-secret"
	region    = "us-east-1"
	// startTimeout covers a cold start on a loaded CI machine; MinIO is
	// usually ready in half a second.
	startTimeout = 30 * time.Second
)

// Server is one running S3 server.
type Server struct {
	Kind      string // "minio" or "versitygw"
	Endpoint  string // http://127.0.0.1:<port>
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string // created empty by Start

	t       testing.TB
	bin     string
	addr    string
	dataDir string
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start launches a server for the test and creates a fresh bucket. The
// server is stopped when the test ends. A missing binary skips the test,
// or fails it under REFRACT_REQUIRE_S3=1.
func Start(t testing.TB) *Server {
	t.Helper()
	kind, bin := Binary()
	if kind == "" {
		t.Fatalf("s3test: REFRACT_S3_SERVER=%q: want minio or versitygw", os.Getenv("REFRACT_S3_SERVER"))
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		msg := fmt.Sprintf("s3test: no %s binary at %s: run `make %s` (or set the path in REFRACT_%s)", kind, bin, kind, envName(kind))
		if os.Getenv("REFRACT_REQUIRE_S3") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; REFRACT_REQUIRE_S3=1 makes this a failure")
	}
	root := t.TempDir()
	s := &Server{
		Kind: kind, AccessKey: accessKey, SecretKey: secretKey, Region: region,
		t: t, bin: bin, dataDir: filepath.Join(root, "data"), logPath: filepath.Join(root, "server.log"),
	}
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("s3test: %s log tail:\n%s", kind, s.logTail())
		}
	})
	// Another process may take the port between probing and binding;
	// a new port settles it.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		s.addr, err = freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		s.Endpoint = "http://" + s.addr
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("s3test: starting %s: %v\n%s", kind, err, s.logTail())
	}
	s.Bucket = s.NewBucket(t)
	return s
}

// Binary reports which server the environment selects and where its
// binary is expected; kind is "" for an unknown REFRACT_S3_SERVER.
func Binary() (kind, path string) {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	dir := filepath.Join(cache, "refract", "bin")
	switch k := os.Getenv("REFRACT_S3_SERVER"); k {
	case "", "minio":
		if p := os.Getenv("REFRACT_MINIO"); p != "" {
			return "minio", p
		}
		return "minio", filepath.Join(dir, "minio-"+MinioVersion)
	case "versitygw":
		if p := os.Getenv("REFRACT_VERSITYGW"); p != "" {
			return "versitygw", p
		}
		return "versitygw", filepath.Join(dir, "versitygw-"+VersityGWVersion)
	}
	return "", ""
}

func envName(kind string) string {
	if kind == "versitygw" {
		return "VERSITYGW"
	}
	return "MINIO"
}

// Config is a store configuration for the server's bucket with short
// timeouts, to adjust before s3store.New.
func (s *Server) Config() s3store.Config {
	return s3store.Config{
		Bucket: s.Bucket, Endpoint: s.Endpoint, Region: s.Region,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey,
		OpTimeout: 10 * time.Second,
	}
}

// Store is a store on the server's bucket.
func (s *Server) Store(t testing.TB) *s3store.Store {
	t.Helper()
	st, err := s3store.New(context.Background(), s.Config())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// NewBucket creates another empty bucket on the server and returns its
// name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	cfg := s.Config()
	cfg.Bucket = "refract-test-" + hex.EncodeToString(b[:])
	st, err := s3store.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureBucket(context.Background()); err != nil {
		t.Fatalf("s3test: creating bucket %s: %v", cfg.Bucket, err)
	}
	return cfg.Bucket
}

// URL is the bucket as an s3:// URL.
func (s *Server) URL() string { return "s3://" + s.Bucket }

// Env is the environment for a subprocess (such as refract itself) to use
// the server through the standard AWS variables; append it to
// os.Environ(). Shared AWS config files are masked so a developer's
// profile cannot leak in.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_SESSION_TOKEN=",
		"AWS_REGION=" + s.Region,
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Stop kills the server, as a crash would, and waits for it to exit.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill() // also ends a Paused process
	<-s.done
	s.cmd = nil
}

// Restart stops the server if it runs and starts it again on the same
// address and data directory: objects written before survive.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("s3test: restarting %s: %v\n%s", s.Kind, err, s.logTail())
	}
}

// Pause freezes the server (SIGSTOP): connections are still accepted by
// the kernel but nothing answers, like a hung server. It returns once
// every thread has stopped. Resume undoes it.
func (s *Server) Pause() {
	s.signal(syscall.SIGSTOP)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		waitStopped(s.cmd.Process.Pid)
	}
}

// Resume continues a Paused server.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Signal(sig)
	}
}

// start launches the process on s.addr and waits until it serves.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	log, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close() // the child has its own copy
	var cmd *exec.Cmd
	// A clean environment: a developer's MINIO_* or AWS_* settings must
	// not change the server, and HOME points away from the real one
	// (MinIO creates config directories there).
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Dir(s.dataDir), "TMPDIR=" + os.TempDir()}
	switch s.Kind {
	case "minio":
		cmd = exec.Command(s.bin, "server", s.dataDir,
			"--address", s.addr, "--console-address", "127.0.0.1:0",
			"--certs-dir", filepath.Join(filepath.Dir(s.dataDir), "certs"), "--quiet")
		env = append(env,
			"MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
			"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off")
	case "versitygw":
		cmd = exec.Command(s.bin, "--port", s.addr, "--access", s.AccessKey, "--secret", s.SecretKey,
			"posix", s.dataDir)
	}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	fmt.Fprintf(log, "--- %s %s\n", time.Now().Format(time.RFC3339Nano), cmd.String())
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	if err := s.waitReady(done); err != nil {
		cmd.Process.Kill()
		<-done
		return err
	}
	s.cmd, s.done = cmd, done
	return nil
}

// waitReady polls MinIO's readiness endpoint, or for versitygw, which
// has none, until any HTTP answer comes back.
func (s *Server) waitReady(exited <-chan struct{}) error {
	c := &http.Client{Timeout: time.Second}
	url := s.Endpoint + "/"
	if s.Kind == "minio" {
		url = s.Endpoint + "/minio/health/ready"
	}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("the server exited during startup")
		default:
		}
		if resp, err := c.Head(url); err == nil {
			resp.Body.Close()
			if s.Kind != "minio" || resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v", startTimeout)
}

// waitStopped waits until all of pid's threads show as stopped: the
// signal is delivered asynchronously, and a thread running on another CPU
// could otherwise still answer a request. Without /proc it waits a
// little.
func waitStopped(pid int) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		tasks, err := os.ReadDir(dir)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			return
		}
		stopped := true
		for _, task := range tasks {
			b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
			// The state follows the parenthesised command name.
			if i := bytes.LastIndexByte(b, ')'); err == nil && i >= 0 && i+2 < len(b) && b[i+2] != 'T' && b[i+2] != 't' {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(bytes.TrimSpace(b))
}

// freeAddr finds a loopback port free on 127.0.0.1 and, where the host
// has IPv6, on [::1]: MinIO also listens on every loopback address with
// the port it is given (hard-wired; it is loopback only all the same).
func freeAddr() (string, error) {
	ipv6 := false
	if l, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ipv6 = true
		l.Close()
	}
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		free := true
		if ipv6 {
			if l6, err := net.Listen("tcp", "[::1]:"+port); err != nil {
				free = false
			} else {
				l6.Close()
			}
		}
		l.Close()
		if free {
			return "127.0.0.1:" + port, nil
		}
	}
	return "", errors.New("s3test: no port free on every loopback address")
}
