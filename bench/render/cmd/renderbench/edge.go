package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// edgeBench runs bench/edge's edgebench (the edge's RAM hits against
// nginx, same core) into a temporary directory and keeps its report for
// this one.
func edgeBench(ctx context.Context, cfg config, tmp string, rep *report) error {
	out := filepath.Join(tmp, "edge-report")
	args := []string{"-refract", cfg.refract, "-out", out}
	if cfg.version != "" {
		args = append(args, "-version", cfg.version)
	}
	args = append(args, strings.Fields(cfg.edgeFlags)...)
	fmt.Println("renderbench: edge vs nginx:", cfg.edgebench, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, cfg.edgebench, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("edgebench: %w", err)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.md"))
	if len(files) != 1 {
		return fmt.Errorf("edgebench wrote %d reports, want 1", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	rep.edgeMD = string(b)
	rep.edgeCmd = cfg.edgebench + " -refract " + cfg.refract + " " + cfg.edgeFlags
	return nil
}
