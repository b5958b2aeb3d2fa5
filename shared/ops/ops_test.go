package ops

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

func TestOps(t *testing.T) {
	o := New()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "refract_test_total", Help: "x"})
	o.Registry.MustRegister(c)
	c.Add(3)
	h := o.Handler()
	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get(t, h, "/readyz"); code != 503 {
		t.Errorf("/readyz before SetReady = %d", code)
	}
	o.SetReady(true)
	if code, _ := get(t, h, "/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
	o.AddCheck("store", func(context.Context) error { return errors.New("disk gone") })
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "disk gone") {
		t.Errorf("/readyz with a failing check = %d %q", code, body)
	}
	if _, body := get(t, h, "/metrics"); !strings.Contains(body, "refract_test_total 3") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics lacks the registered metrics")
	}
	if code, body := get(t, h, "/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile") {
		t.Errorf("/debug/pprof/heap = %d", code)
	}
}
