package tei_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
	"github.com/chorusml/chorus/worker/endpoint/tei"
	"github.com/chorusml/chorus/worker/errkind"
)

// warnings collects what a client reports through Spec.Warn.
type warnings struct {
	mu  sync.Mutex
	got []string
}

func (w *warnings) warn(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, msg)
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.got...)
}

// infoServer answers GET /info with info and POST /predict with predict.
func infoServer(t *testing.T, info, predict adaptertest.Reply) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := predict
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/info") {
			rep = info
		}
		for k, v := range rep.Header {
			w.Header()[k] = v
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(rep.Status)
		io.WriteString(w, rep.Body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSkipInfo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request %s %s with SkipInfo", r.Method, r.URL.Path)
	}))
	defer srv.Close()
	c, err := tei.New(adaptertest.Spec(srv.URL), tei.Options{SkipInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Start(adaptertest.Context(t))
	if err != nil || info != (endpoint.Info{}) {
		t.Errorf("Start = %+v, %v; want nothing learned and no error", info, err)
	}
}

// checkKind fails t unless err is of kind (nil: no error).
func checkKind(t *testing.T, err error, kind errkind.Kind, reason errkind.Reason) {
	t.Helper()
	if kind == errkind.Unknown {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %v %s", kind, reason)
	}
	if got := errkind.KindOf(err); got != kind {
		t.Errorf("kind of %v = %v, want %v", err, got, kind)
	}
	if got := errkind.ReasonOf(err); reason != "" && got != reason {
		t.Errorf("reason of %v = %q, want %q", err, got, reason)
	}
}
