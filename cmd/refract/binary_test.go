package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary runs the real refract binary as make run does: it starts on
// loopback, uploads the sample, prints URLs that work, and exits cleanly
// on SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "refract")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "dev", "--demo", "--data", t.TempDir(),
		"--edge-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "CLOUDINARY_URL=")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	var printed []string
	var lines []string
	sc := bufio.NewScanner(stdout)
	url := regexp.MustCompile(`http://127\.0\.0\.1:\d+/demo/image/upload/\S+`)
	deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if u := url.FindString(line); u != "" && !strings.HasSuffix(u, "/...") {
			printed = append(printed, u)
		}
		if strings.Contains(line, "Press Ctrl-C") {
			break
		}
	}
	deadline.Stop()
	out := strings.Join(lines, "\n")
	if len(printed) < 5 {
		t.Fatalf("expected example URLs, got:\n%s", out)
	}
	if strings.Count(out, "[200 image/") != len(printed) {
		t.Errorf("not every printed URL was fetched successfully:\n%s", out)
	}
	if !strings.Contains(out, "CLOUDINARY_URL=cloudinary://") {
		t.Errorf("the generated credentials are not printed:\n%s", out)
	}
	for _, u := range printed {
		if r := fetch(t, u); r.status != 200 {
			t.Errorf("%s: %d %s", u, r.status, r.header.Get("X-Cld-Error"))
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("refract dev did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("refract dev did not stop within 15 s of SIGTERM")
	}
}
