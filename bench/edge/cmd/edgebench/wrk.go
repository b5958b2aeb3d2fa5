package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wrkResult is what one wrk run reports.
type wrkResult struct {
	ReqPerSec float64
	Requests  int64
	P50, P99  time.Duration // from --latency
	Non2xx    int64         // "Non-2xx or 3xx responses"
	SockErrs  int64         // connect + read + write + timeout
	SockLine  string        // wrk's "Socket errors" line, if any
	Raw       string
	// Filled in by the caller: the server's CPU time over the run, and
	// how busy its core was (anything, including other processes).
	SrvCPU, CoreBusy float64 // seconds
}

// perCPU is requests per second of the server's own CPU time: what it
// would serve with the core to itself, unlike req/s, which other
// processes on a shared core drag down.
func perCPU(r wrkResult) float64 {
	if r.SrvCPU <= 0 {
		return 0
	}
	return float64(r.Requests) / r.SrvCPU
}

// share is the server's part of its core's busy time.
func share(r wrkResult) float64 {
	if r.CoreBusy <= 0 {
		return 0
	}
	return r.SrvCPU / r.CoreBusy
}

// runWrk runs wrk pinned to cpus against u, bounded by dur plus a margin.
func runWrk(ctx context.Context, cpus string, threads, conns int, dur time.Duration, script, u string) (wrkResult, error) {
	args := []string{"-c", cpus, "wrk", "-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns),
		"-d" + strconv.Itoa(int(dur.Seconds())) + "s", "--latency"}
	if script != "" {
		args = append(args, "-s", script)
	}
	args = append(args, u)
	ctx, cancel := context.WithTimeout(ctx, dur+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "taskset", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{Raw: string(out)}, fmt.Errorf("wrk %s: %w\n%s", u, err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return r, fmt.Errorf("wrk %s: %w\n%s", u, err, out)
	}
	return r, nil
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reReqs    = regexp.MustCompile(`(\d+) requests in`)
	rePct     = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reSockErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func parseWrk(s string) (wrkResult, error) {
	r := wrkResult{Raw: s}
	m := reRPS.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk's output")
	}
	r.ReqPerSec, _ = strconv.ParseFloat(m[1], 64)
	if m := reReqs.FindStringSubmatch(s); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	for _, m := range rePct.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9}[m[3]]
		d := time.Duration(v * unit)
		if m[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if r.P50 == 0 || r.P99 == 0 {
		return r, fmt.Errorf("no 50%%/99%% latency in wrk's output")
	}
	if m := reNon2xx.FindStringSubmatch(s); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reSockErr.FindStringSubmatch(s); m != nil {
		r.SockLine = strings.TrimPrefix(m[0], "Socket errors: ")
		for _, x := range m[1:] {
			n, _ := strconv.ParseInt(x, 10, 64)
			r.SockErrs += n
		}
	}
	return r, nil
}

// wrkVersion is wrk's first line of -v.
func wrkVersion() string {
	out, _ := exec.Command("wrk", "-v").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	line, _, _ = strings.Cut(line, " Copyright")
	return strings.TrimSpace(line)
}
