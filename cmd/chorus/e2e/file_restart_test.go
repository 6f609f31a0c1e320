package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/sinks/filesink"
)

// fileWorker writes n jobs and a file-source → file-sink config whose
// models live at addr.
func fileWorker(t *testing.T, n int, addr string) (dir, cfgPath string) {
	t.Helper()
	dir = t.TempDir()
	var jobs bytes.Buffer
	tenants := []string{"acme", "globex", "initech"}
	for i := range n {
		fmt.Fprintf(&jobs, `{"response_id":"r-%05d","tenant":%q,"text":"The app is slow since the update, job %d."}`+"\n", i, tenants[i%3], i)
	}
	if err := os.WriteFile(filepath.Join(dir, "jobs.jsonl"), jobs.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
worker: {max_outstanding_messages: 100, drain_timeout: 20s}
source: {type: file, file: {path: %[1]s/jobs.jsonl}}
sink: {type: file, file: {path: %[1]s/results.jsonl}}
models:
  - {name: sentiment-nb, protocol: open-inference, url: "http://%[2]s", labels: [negative, positive], batch: {max_items: 16}, max_in_flight: 2}
  - {name: topics, protocol: open-inference, url: "http://%[2]s", labels: [pricing, support, reliability, performance, usability, features, billing, onboarding], batch: {max_items: 16}, max_in_flight: 2}
pipelines:
  - {name: default, version: "1", sentiment: {models: [{model: sentiment-nb}]}, topics: {models: [{model: topics}]}}
tenants: [{name: "*", pipeline: default}]
log: {format: json}
`, dir, addr)
	cfgPath = filepath.Join(dir, "chorus.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath
}

// The worker as users run it: a separate process, interrupted by SIGTERM
// or killed with SIGKILL mid-run, then restarted. Nothing is lost and no
// job is counted twice (the sink's idempotency absorbs redelivery).
func TestRunSurvivesSIGTERMAndSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// An emulated GPU cost makes a run last long enough to be interrupted.
	addr := referenceModelsWith(t, modelserver.Options{BatchCost: 15 * time.Millisecond, MaxConcurrent: 2})
	const n = 1500
	tests := []struct {
		name     string
		sig      syscall.Signal
		wantCode int
	}{
		{"sigterm drains and exits 0", syscall.SIGTERM, 0},
		{"sigkill then restart", syscall.SIGKILL, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, cfg := fileWorker(t, n, addr)
			results := filepath.Join(dir, "results.jsonl")
			p := startBinary(t, nil, "run", "--config", cfg)
			waitFor(t, 30*time.Second, 10*time.Millisecond, "the first results", func() (bool, string) {
				st, err := os.Stat(results)
				return err == nil && st.Size() > 0, ""
			})
			p.signal(tc.sig)
			if code := p.wait(60 * time.Second); code != tc.wantCode {
				t.Fatalf("exit code %d after %v, want %d; output:\n%s", code, tc.sig, tc.wantCode, tailOf(p.out.String()))
			}
			if tc.sig == syscall.SIGTERM && !strings.Contains(p.out.String(), `"clean":true`) {
				t.Fatalf("no clean drain in the output:\n%s", tailOf(p.out.String()))
			}
			first, err := filesink.ReadAll(results)
			if err != nil {
				t.Fatal(err)
			}
			if len(first) == 0 || len(first) >= n {
				t.Fatalf("%d results after the interruption; the test wants it mid-run", len(first))
			}
			// Restart with the same config: the file source resumes from
			// its checkpoint and the worker exits once the file is done.
			p = startBinary(t, nil, "run", "--config", cfg)
			if code := p.wait(60 * time.Second); code != 0 {
				t.Fatalf("restart exit code %d; output:\n%s", code, tailOf(p.out.String()))
			}
			all, err := filesink.ReadAll(results)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != n {
				t.Fatalf("%d distinct results after restart, want %d", len(all), n)
			}
		})
	}
}
