package proc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The kernel reports CPU time in /proc in USER_HZ ticks, which is 100 on
// every Linux architecture Go supports.
const userHZ = 100

// CPU is the user+system CPU time of a process, in seconds (0 if it
// cannot be read, so a pid of -1 reads as no time).
func CPU(pid int) float64 {
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

// CoreTimes is how long a CPU (as "0", "1"…) has spent doing anything
// but idling, and of that in interrupts and softirqs, in seconds; ok is
// false if cpu is not a single CPU.
func CoreTimes(cpu string) (busy, irq float64, ok bool) {
	if _, err := strconv.Atoi(cpu); err != nil {
		return 0, 0, false
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "cpu"+cpu {
			continue
		}
		// user nice system idle iowait irq softirq steal [guest guest_nice]
		var t [8]int64
		for i := range t {
			t[i], _ = strconv.ParseInt(f[i+1], 10, 64)
		}
		busy := t[0] + t[1] + t[2] + t[5] + t[6] + t[7]
		return float64(busy) / userHZ, float64(t[5]+t[6]) / userHZ, true
	}
	return 0, 0, false
}

// Ksoftirqd is the pid of the kernel thread that runs a CPU's deferred
// softirqs (loopback's network work, when the kernel does not do it in
// the sending process's own time), or 0.
func Ksoftirqd(cpu string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && strings.TrimSpace(string(b)) == "ksoftirqd/"+cpu {
			return pid
		}
	}
	return 0
}

// StatusKB reads a kB field of /proc/<pid>/status, such as VmRSS,
// VmHWM, RssAnon or RssFile.
func StatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no " + field + " in /proc/" + strconv.Itoa(pid) + "/status")
}

// Children lists pid's child processes (nginx's workers).
func Children(pid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}
