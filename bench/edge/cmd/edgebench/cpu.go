package main

import (
	"os"
	"strconv"
	"strings"
)

// The kernel reports CPU time in /proc in USER_HZ ticks, which is 100 on
// every Linux architecture Go supports.
const userHZ = 100

// procCPU is the user+system CPU time of a process, in seconds.
func procCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime 14, stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return float64(ut+st) / userHZ
}

// cpuBusy is the time a CPU (as "0", "1"…) has spent doing anything but
// idling, in seconds, or -1 if cpu is not a single CPU.
func cpuBusy(cpu string) float64 {
	if _, err := strconv.Atoi(cpu); err != nil {
		return -1
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu"+cpu {
			continue
		}
		// user nice system idle iowait irq softirq steal [guest guest_nice]
		var busy int64
		for i, v := range f[1:9] {
			if i == 3 || i == 4 {
				continue
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			busy += n
		}
		return float64(busy) / userHZ
	}
	return -1
}
