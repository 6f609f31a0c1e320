package ops

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		level, format string
		wantErr       string
		wantJSON      bool
	}{
		{"", "", "", true}, // a buffer is not a terminal
		{"debug", "json", "", true},
		{"info", "console", "", false},
		{"loud", "json", "log.level", false},
		{"info", "xml", "log.format", false},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		log, err := NewLogger(&buf, tc.level, tc.format)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q/%q: err %v, want mention of %s", tc.level, tc.format, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		log.Info().Str("tenant", "acme").Msg("hello")
		if got := strings.HasPrefix(buf.String(), "{"); got != tc.wantJSON {
			t.Errorf("%q/%q: JSON=%v, want %v: %s", tc.level, tc.format, got, tc.wantJSON, buf.String())
		}
	}
}

func TestHandler(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_test_total", Help: "x"})
	reg.MustRegister(c)
	c.Inc()
	var ready atomic.Bool
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr, errc, err := Serve(ctx, "127.0.0.1:0", Handler(reg, func() error {
		if !ready.Load() {
			return errors.New("source not connected")
		}
		return nil
	}, HandlerOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "source not connected") {
		t.Errorf("/readyz = %d %q, want 503 with the reason", code, body)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d, want 200", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "chorus_test_total 1") {
		t.Errorf("/metrics = %d, missing counter", code)
	}
	if code, _ := get("/debug/pprof/"); code != 404 {
		t.Errorf("/debug/pprof/ without Pprof = %d, want 404", code)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestHandlerPprof(t *testing.T) {
	h := Handler(NewRegistry(), func() error { return nil }, HandlerOptions{Pprof: true})
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/debug/pprof/", 200},
		{"/debug/pprof/goroutine?debug=1", 200},
		{"/debug/pprof/cmdline", 200},
		{"/healthz", 200},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != tc.want {
			t.Errorf("GET %s = %d, want %d", tc.path, rec.Code, tc.want)
		}
	}
}
