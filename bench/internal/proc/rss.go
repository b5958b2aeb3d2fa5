package proc

import (
	"sync"
	"time"
)

// RSSSampler records the largest VmRSS of each of some processes while
// they run, and the largest sum of one round of samples (what an edge
// and its origin take together at one instant).
type RSSSampler struct {
	mu    sync.Mutex
	peaks []int64 // kB, by pid
	sum   int64   // kB
	stopc chan struct{}
	done  chan struct{}
}

// SampleRSS reads the VmRSS of pids now and every period until Stop.
func SampleRSS(every time.Duration, pids ...int) *RSSSampler {
	s := &RSSSampler{peaks: make([]int64, len(pids)), stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			var sum int64
			s.mu.Lock()
			for i, pid := range pids {
				if kb, err := StatusKB(pid, "VmRSS"); err == nil {
					s.peaks[i] = max(s.peaks[i], kb)
					sum += kb
				}
			}
			s.sum = max(s.sum, sum)
			s.mu.Unlock()
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Peaks are the largest VmRSS of each process so far, in kB, in the
// order of SampleRSS's pids.
func (s *RSSSampler) Peaks() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.peaks...)
}

// PeakSum is the largest sum of simultaneous samples so far, in kB; with
// one process, its peak.
func (s *RSSSampler) PeakSum() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sum
}

// Reset forgets the peaks, to measure a new phase with the same sampler.
func (s *RSSSampler) Reset() {
	s.mu.Lock()
	clear(s.peaks)
	s.sum = 0
	s.mu.Unlock()
}

// Stop ends sampling and returns PeakSum.
func (s *RSSSampler) Stop() int64 {
	close(s.stopc)
	<-s.done
	return s.PeakSum()
}
