package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// purgeResult is one run of BenchmarkPurgePropagation: 200 purges on
// the loopback fleet (3 edges, 2 origins, MinIO, NATS JetStream).
type purgeResult struct{ p50, p99, max float64 } // ms

// purgeCmd runs the purge benchmark, which lives with the fleet tests
// in cmd/refract (go test builds it; make bench has built MinIO).
var purgeCmd = []string{"go", "test", "-run", "^$", "-bench", "PurgePropagation", "-benchtime", "1x", "-count", "3", "./cmd/refract"}

func purgeBench(ctx context.Context, rep *report) error {
	fmt.Println("renderbench: purge propagation:", strings.Join(purgeCmd, " "))
	cmd := exec.CommandContext(ctx, purgeCmd[0], purgeCmd[1:]...)
	cmd.Env = append(os.Environ(), "REFRACT_REQUIRE_S3=1", "REFRACT_REQUIRE_NATS=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("purge benchmark: %w\n%s", err, out.String())
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[0], "BenchmarkPurgePropagation") {
			continue
		}
		var r purgeResult
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "p50-ms":
				r.p50 = v
			case "p99-ms":
				r.p99 = v
			case "max-ms":
				r.max = v
			}
		}
		rep.purges = append(rep.purges, r)
	}
	if len(rep.purges) == 0 {
		return fmt.Errorf("purge benchmark printed no results:\n%s", out.String())
	}
	rep.purgeTook = time.Since(start)
	for _, r := range rep.purges {
		fmt.Printf("  p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", r.p50, r.p99, r.max)
	}
	return nil
}

// purgeP99 is the median of the runs' p99s.
func (r *report) purgeP99() float64 {
	ps := make([]float64, len(r.purges))
	for i, x := range r.purges {
		ps[i] = x.p99
	}
	slices.Sort(ps)
	return ps[len(ps)/2]
}

func (r *report) purgeSection(p func(string, ...any)) {
	p("## Purge propagation\n\n")
	p("`%s` (%s): the loopback fleet of `TestFleet*` (3 `refract edge`, 2 `refract origin`, MinIO, nats-server with JetStream, all on 127.0.0.1). For each of 200 purges, the URL is cached on all 3 edges, the purge API is called with it, and each edge is polled every millisecond; the time is from the API call to the start of the last edge's first request answered with a miss. Target (what Fastly and Cloudflare publish): p99 under 150 ms.\n\n",
		strings.Join(purgeCmd, " "), r.purgeTook.Round(time.Second))
	p("| Run | p50 | p99 | max |\n|---|---|---|---|\n")
	for i, x := range r.purges {
		p("| %d | %.1f ms | %.1f ms | %.1f ms |\n", i+1, x.p50, x.p99, x.max)
	}
	p("\n")
}
