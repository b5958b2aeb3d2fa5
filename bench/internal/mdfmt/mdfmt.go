// Package mdfmt formats the figures of the benchmarks' Markdown reports
// and saves the reports.
package mdfmt

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Median is the median of xs (0 for none); xs is left as it was.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Int rounds v and groups its digits with spaces, as bench/README.md does.
func Int(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Duration is d in µs, ms (with msDecimals decimals) or s (two
// decimals), whichever unit it reaches.
func Duration(d time.Duration, msDecimals int) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.*f ms", msDecimals, float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// MiB is a size given in kB (as /proc gives RSS), in whole MiB.
func MiB(kb int64) string { return fmt.Sprintf("%.0f MiB", float64(kb)/1024) }

// Bytes is n in B below 10 000, else in KB or MB with one decimal.
func Bytes(n int) string {
	switch {
	case n < 10_000:
		return fmt.Sprintf("%d B", n)
	case n < 10_000_000:
		return fmt.Sprintf("%.1f KB", float64(n)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// ReportName is "<date>-<host>", the start of a report's file name, with
// the characters a file name cannot hold replaced.
func ReportName(start time.Time, host string) string {
	host = strings.Map(func(c rune) rune {
		if c == '/' || c == ' ' {
			return '_'
		}
		return c
	}, host)
	return start.Format("2006-01-02") + "-" + host
}

// Save writes the report to <dir>/<name>.md, or, if that exists (an
// earlier run the same day), to <name>-<start's HHMM>.md, and returns the
// path.
func Save(dir, name string, start time.Time, markdown string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+".md")
	if _, err := os.Stat(path); err == nil {
		path = filepath.Join(dir, name+"-"+start.Format("1504")+".md")
	}
	return path, os.WriteFile(path, []byte(markdown), 0o644)
}
