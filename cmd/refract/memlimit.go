package main

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// setMemoryLimit gives the Go runtime a soft memory limit sized to the
// RAM tier, unless GOMEMLIMIT already set one. Cached bodies live on the
// Go heap, and with the default GOGC the heap may grow to twice what is
// live before a collection: a full 256 MiB tier would take over 500 MiB.
// The bodies hold no pointers, so the extra collections near the limit
// cost little. overhead is what the process needs beyond the tier.
func setMemoryLimit(log *slog.Logger, ramBytes, overhead int64) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := memoryLimit(ramBytes, overhead)
	debug.SetMemoryLimit(limit)
	log.Info("memory limit set for the Go heap (GOMEMLIMIT overrides)", "limit_mib", limit>>20)
}

// memoryLimit is the tier, a quarter more for entries in flight and the
// cache's own bookkeeping, and overhead.
func memoryLimit(ramBytes, overhead int64) int64 {
	return ramBytes + ramBytes/4 + overhead
}
