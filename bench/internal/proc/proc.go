// Package proc runs the benchmarks' child processes and reads what the
// kernel reports about them in /proc.
package proc

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process the benchmark started. Every child runs in its
// own process group, so stopping it also stops what it forked (nginx's
// worker), and gets a signal if the benchmark dies without cleaning up.
type Proc struct {
	Name    string
	cmd     *exec.Cmd
	stopSig syscall.Signal
	done    chan struct{}
	err     error
	log     string
}

// Group tracks every child, so one deferred call stops them all, on
// success, on failure and on Ctrl-C. The zero Group is ready to use.
type Group struct {
	mu   sync.Mutex
	list []*Proc
}

// Start runs argv with env added to the benchmark's own environment;
// its output goes to logPath (and stdout, if given, to w instead).
func (g *Group) Start(name, logPath string, stopSig syscall.Signal, stdout io.Writer, env []string, argv ...string) (*Proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: stopSig}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, stopSig: stopSig, done: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	g.mu.Lock()
	g.list = append(g.list, p)
	g.mu.Unlock()
	return p, nil
}

// Pinned prefixes argv with `taskset -c cpus`, unless cpus is empty.
func Pinned(cpus string, argv ...string) []string {
	if cpus == "" {
		return argv
	}
	return append([]string{"taskset", "-c", cpus}, argv...)
}

func (p *Proc) Pid() int { return p.cmd.Process.Pid }

func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop signals the child's process group and waits; after the grace
// period it kills the group.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	syscall.Kill(-p.Pid(), p.stopSig)
	select {
	case <-p.done:
	case <-time.After(grace):
		syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
	}
}

// StopAll stops every child still running, newest first.
func (g *Group) StopAll() {
	g.mu.Lock()
	list := g.list
	g.list = nil
	g.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].Stop(10 * time.Second)
	}
}

// Tail returns the last n lines of the child's log, for error messages.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
