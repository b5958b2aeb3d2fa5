package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// profile is a perf sample of one server while it renders a workload.
type profile struct {
	wl     *workload
	side   string
	conc   int
	res    *runResult
	byDSO  []string // "12.3%  libvips.so.42"
	bySym  []string // "12.3%  libvips.so.42  vips_foo"
	errMsg string
}

// profileRun samples pid with perf (99 Hz per CPU, user and kernel)
// while a run of the workload at conc drives it.
func profileRun(ctx context.Context, cfg config, tmp string, pid, conc, first int, wl *workload, urls func(int) string) (*profile, error) {
	out := filepath.Join(tmp, fmt.Sprintf("perf-%s-%d.data", wl.key, pid))
	secs := fmt.Sprintf("%.0f", cfg.profileDur.Seconds())
	rec := exec.CommandContext(ctx, "perf", "record", "-q", "-F", "499", "-o", out, "-p", fmt.Sprint(pid), "--", "sleep", secs)
	rec.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := rec.Start(); err != nil {
		return nil, err
	}
	time.Sleep(300 * time.Millisecond)
	c := newClient(conc)
	res := closedLoop(ctx, conc, first, cfg.count, cfg.profileDur, httpDo(c, urls, wl.ext))
	c.CloseIdleConnections()
	if err := rec.Wait(); err != nil {
		return nil, fmt.Errorf("perf record: %w", err)
	}
	p := &profile{wl: wl, conc: conc, res: res}
	var err error
	if p.byDSO, err = perfReport(ctx, out, "dso", 8); err != nil {
		return nil, err
	}
	if p.bySym, err = perfReport(ctx, out, "dso,sym", 15); err != nil {
		return nil, err
	}
	return p, nil
}

// perfReport returns the first n rows of `perf report` sorted by keys,
// as "pct  key key".
func perfReport(ctx context.Context, file, keys string, n int) ([]string, error) {
	cmd := exec.CommandContext(ctx, "perf", "report", "-i", file, "--stdio", "--no-children", "-q", "--sort", keys, "--percent-limit", "0.5")
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("perf report: %w", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasSuffix(f[0], "%") {
			continue
		}
		// Drop perf's "[.]" / "[k]" markers, keep the rest.
		var keep []string
		for _, x := range f[1:] {
			if x != "[.]" && x != "[k]" {
				keep = append(keep, x)
			}
		}
		out = append(out, f[0]+"  "+strings.Join(keep, " "))
		if len(out) == n {
			break
		}
	}
	return out, nil
}
