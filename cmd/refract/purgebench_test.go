package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkPurgePropagation times 200 purges on the loopback fleet (3
// edges, 2 origins, MinIO, NATS JetStream): from the purge API call to
// the moment all 3 edges answer the purged URL with a miss, taken as the
// start of each edge's first request answered with a miss. Each edge is
// polled every millisecond, so a figure is late by up to a poll. Run with -benchtime 1x (make bench-purge);
// it reports p50, p99 and max in ms.
func BenchmarkPurgePropagation(b *testing.B) {
	const purges = 200
	f := startPubFleet(b, 3, 2)
	for i := 0; i < 20; i++ {
		f.upload(b, fmt.Sprint("prop/", i), 200)
	}
	var lat []time.Duration
	for b.Loop() {
		lat = lat[:0]
		for i := 0; i < purges; i++ {
			u := fmt.Sprintf("/testcloud/image/upload/w_%d/prop/%d.png", 8+i%30, i%20)
			for _, e := range f.edges {
				for k := 0; k < 2; k++ {
					if _, err := get("http://" + e.addr + u); err != nil {
						b.Fatal(err)
					}
				}
			}
			start := time.Now()
			purge(b, f, u)
			// When each edge first missed: the start of the first request
			// it answered with a miss. Its answer comes later, after the
			// origin's, which is not propagation time.
			missed := make([]time.Time, len(f.edges))
			var wg sync.WaitGroup
			for i, e := range f.edges {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for deadline := start.Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
						sent := time.Now()
						if r, err := get("http://" + e.addr + u); err == nil && r.header.Get("X-Cache") == "MISS" {
							missed[i] = sent
							return
						}
					}
					b.Errorf("%s still cached 5 s after its purge", u)
				}()
			}
			wg.Wait()
			last := start
			for _, m := range missed {
				if m.After(last) {
					last = m
				}
			}
			lat = append(lat, last.Sub(start))
		}
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(0, "ns/op")
}

// purge calls the purge API for one delivery URL.
func purge(b *testing.B, f *pubFleet, u string) {
	req, _ := http.NewRequest("POST", "http://"+f.origins[0].apiAddr+"/v1_1/testcloud/purge", strings.NewReader(`{"urls": ["`+u+`"]}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(f.cloud.APIKey, f.cloud.APISecret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		b.Fatalf("purge API: %d %s", res.StatusCode, res.Header.Get("X-Cld-Error"))
	}
}
