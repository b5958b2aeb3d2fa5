package s3test

import (
	"os"
	"regexp"
	"testing"
	"time"
)

func TestStartStopRestart(t *testing.T) {
	start := time.Now()
	s := Start(t)
	t.Logf("%s ready with bucket %s in %v", s.Kind, s.Bucket, time.Since(start))
	st := s.Store(t)
	if err := st.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	s.Restart()
	t.Logf("restarted in %v", time.Since(start))
	if err := st.Ping(t.Context()); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
	s.Stop()
	s.Stop()
	if err := st.Ping(t.Context()); err == nil {
		t.Fatal("Ping succeeded against a stopped server")
	}
}

// TestMakefilePins keeps the versions the Makefile builds and the ones
// looked for here in step.
func TestMakefilePins(t *testing.T) {
	mk, err := os.ReadFile("../../../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"MINIO_VERSION": MinioVersion, "VERSITYGW_VERSION": VersityGWVersion} {
		m := regexp.MustCompile(`(?m)^` + name + `\s*:?=\s*(\S+)`).FindSubmatch(mk)
		if m == nil || string(m[1]) != want {
			t.Errorf("Makefile %s = %q, s3test expects %s", name, m, want)
		}
	}
}
