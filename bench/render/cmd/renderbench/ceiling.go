package main

import (
	"context"
	"fmt"

	"github.com/refract-cdn/refract/origin/render"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/transform"
)

// ceilingBench calls origin/render.Render in this process, on the same
// source bytes, with the same transformation sequence and concurrency as
// the server runs: Refract's render path with no HTTP, no store and no
// cache, i.e. what libvips costs as Refract drives it. Render sets
// libvips up as the origin does (render.Startup).
func ceilingBench(ctx context.Context, cfg config, rep *report, wls []*workload) error {
	fmt.Println("renderbench: ceiling: origin/render.Render in-process")
	render.Startup()
	for _, wl := range wls {
		f := format.FromExt(wl.ext)
		do := func(ctx context.Context, i int) (int, bool, string) {
			_, w := seq(wl, cfg.copies, i)
			var ch transform.Chain
			if err := transform.Parse(wl.refractTx(w), &ch); err != nil {
				return 0, false, err.Error()
			}
			res, err := render.Render(wl.src.body, render.Request{Chain: &ch, Format: f, MaxPixels: 25_000_000})
			if err != nil {
				return 0, false, err.Error()
			}
			if got := sniff(res.Body); got != wl.ext {
				return 0, false, "format " + got
			}
			return len(res.Body), true, ""
		}
		do(ctx, 0) // warm-up, unmeasured
		for ci, conc := range cfg.concs {
			for r := range cfg.rounds {
				res := closedLoop(ctx, conc, (r*len(cfg.concs)+ci)*cfg.count, cfg.count, cfg.dur, do)
				if err := ctx.Err(); err != nil {
					return err
				}
				res.side, res.round = "ceiling", r
				if res.bad > 0 {
					return fmt.Errorf("ceiling %s: %d failures, e.g. %s", wl.key, res.bad, res.badNote)
				}
				rep.addRun(wl, res)
				fmt.Printf("  round %d %-10s c=%d ceiling  %6.2f req/s  p50 %-9s p99 %-9s %7.0f B\n",
					r+1, wl.key, conc, res.rps(), fmtDur(res.pct(0.5)), fmtDur(res.pct(0.99)), res.meanBytes())
			}
		}
	}
	return nil
}
