package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chorusml/chorus"
	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
	"github.com/chorusml/chorus/sinks/filesink"
)

func TestDispatch(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("source: {type: kafka}\nsink: {type: file, file: {path: x}}\nmodels: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int // 0 ok, else the exitError code
		wantOut  string
	}{
		{"version", []string{"version"}, 0, "chorus "},
		{"help", []string{"help"}, 0, "Usage:"},
		{"no command", nil, 2, "Usage:"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"validate example", []string{"config", "validate", "../../deploy/examples/file-worker.yaml"}, 0, "ok (2 models"},
		{"validate demo", []string{"config", "validate", "../../deploy/examples/demo.yaml"}, 0, "ok (5 models"},
		{"validate bad", []string{"config", "validate", bad}, 2, `source.type: got "kafka"`},
		{"run without config", []string{"run"}, 2, "--config"},
		{"models without verb", []string{"models"}, 2, "serve"},
		{"serve unknown model", []string{"models", "serve", "--addr", "127.0.0.1:0", "--models", "nope"}, 2, `no reference model named "nope"`},
		{"serve unknown dialect", []string{"models", "serve", "--addr", "127.0.0.1:0", "--dialect", "open-inference=torchserve"}, 2,
			`open-inference dialect "torchserve" is not one of chorus, triton, kserve-hf`},
		{"serve dialect of no protocol", []string{"models", "serve", "--addr", "127.0.0.1:0", "--dialect", "grpc=triton"}, 2, `unknown protocol "grpc"`},
		{"serve help lists dialects", []string{"models", "serve", "-h"}, 1, "vertex: automl, tabular, tf-serving"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := dispatch(context.Background(), tc.args, &out, &errOut)
			code := 0
			if err != nil {
				code = 1
				var ee *exitError
				if errors.As(err, &ee) {
					code = ee.code
				}
			}
			all := out.String() + errOut.String()
			if err != nil {
				all += err.Error()
			}
			if code != tc.wantCode || !strings.Contains(all, tc.wantOut) {
				t.Fatalf("code %d, output %q; want code %d and %q", code, all, tc.wantCode, tc.wantOut)
			}
		})
	}
}

// buildChorus builds the binary once per test run.
func buildChorus(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chorus")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

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

// slowModels serves the reference models with an emulated GPU cost, so a
// run lasts long enough to be interrupted.
func slowModels(t *testing.T) string {
	t.Helper()
	models, err := refmodel.LoadAll(chorus.Data)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = modelserver.New(models, modelserver.Options{BatchCost: 15 * time.Millisecond, MaxConcurrent: 2}).Serve(ctx, ln)
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// startWorker starts `chorus run`; wait returns its exit code and stderr.
func startWorker(t *testing.T, bin, cfg string) (*exec.Cmd, func() (int, string)) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, func() (int, string) {
		select {
		case err := <-exited:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode(), stderr.String()
			}
			if err != nil {
				t.Fatal(err)
			}
			return 0, stderr.String()
		case <-time.After(60 * time.Second):
			t.Fatalf("worker did not exit; log:\n%s", stderr.String())
			return -1, ""
		}
	}
}

func waitForResults(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := os.Stat(path); err == nil && st.Size() > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no results written")
}

// The worker as users run it: a separate process, interrupted by SIGTERM
// or killed with SIGKILL mid-run, then restarted. Nothing is lost and no
// job is counted twice (the sink's idempotency absorbs redelivery).
func TestRunSurvivesSIGTERMAndSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildChorus(t)
	addr := slowModels(t)
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
			cmd, wait := startWorker(t, bin, cfg)
			waitForResults(t, results)
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			code, log := wait()
			if code != tc.wantCode {
				t.Fatalf("exit code %d after %v, want %d; log:\n%s", code, tc.sig, tc.wantCode, log)
			}
			if tc.sig == syscall.SIGTERM && !strings.Contains(log, `"clean":true`) {
				t.Fatalf("no clean drain in the log:\n%s", log)
			}
			first, err := filesink.ReadAll(results)
			if err != nil {
				t.Fatal(err)
			}
			if len(first) == 0 || len(first) >= n {
				t.Fatalf("%d results after the interruption; the test wants it mid-run", len(first))
			}
			// Restart: the file source resumes from its checkpoint and the
			// worker exits once the file is done.
			_, wait = startWorker(t, bin, cfg)
			if code, log := wait(); code != 0 {
				t.Fatalf("restart exit code %d; log:\n%s", code, log)
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
