package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/sources"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// chorusBinary builds cmd/chorus once for the package's tests.
func chorusBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chorus-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "chorus")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/chorus")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// referenceModels serves the real reference models on a loopback port.
func referenceModels(t *testing.T) string {
	t.Helper()
	return referenceModelsWith(t, modelserver.Options{})
}

// referenceModelsWith is referenceModels answering with o (dialects, costs).
func referenceModelsWith(t *testing.T, o modelserver.Options) string {
	t.Helper()
	addr, _ := referenceModelServer(t, o)
	return addr
}

// modelsYAML is the models, pipeline and tenants part of a config.
func modelsYAML(addr string) string {
	return fmt.Sprintf(`
models:
  - {name: sentiment-nb, protocol: open-inference, url: "http://%[1]s", labels: [negative, positive], batch: {max_items: 64}}
  - {name: topics, protocol: open-inference, url: "http://%[1]s",
     labels: [pricing, support, reliability, performance, usability, features, billing, onboarding], batch: {max_items: 64}}
pipelines:
  - {name: default, version: "2026-11-25.1", sentiment: {models: [{model: sentiment-nb}]}, topics: {models: [{model: topics}]}}
tenants: [{name: "*", pipeline: default}]
log: {format: json, level: info}
`, addr)
}

// process is a running chorus binary.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *output
	exited chan error
}

// output is a process's stdout and stderr. exec's copier goroutine writes
// it while the process runs, so a test reads it under the same lock.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(b)
}

// String is what the process has written so far.
func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func startChorus(t *testing.T, cfg string, env []string, args ...string) *process {
	t.Helper()
	path := filepath.Join(t.TempDir(), "chorus.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return startBinary(t, env, append(args, "--config", path)...)
}

// startBinary starts the chorus binary with args and env added to this
// process's environment, its output captured; it is killed at cleanup.
func startBinary(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	p := &process{t: t, out: &output{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(chorusBinary(t), args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	return p
}

// wait returns the exit code, failing the test after d.
func (p *process) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case err := <-p.exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			p.t.Fatal(err)
		}
		return 0
	case <-time.After(d):
		p.t.Fatalf("chorus did not exit within %v; output:\n%s", d, tailOf(p.out.String()))
		return -1
	}
}

// startWorker runs `chorus run` with cfg, serving metrics and health on a
// loopback port (metricsAddr finds it).
func startWorker(t *testing.T, cfg string, env []string) *process {
	t.Helper()
	return startChorus(t, cfg, env, "run", "--metrics-addr", "127.0.0.1:0")
}

// metricsAddr waits for the log line naming the metrics listener.
func (p *process) metricsAddr() string {
	p.t.Helper()
	var addr string
	p.eventually(60*time.Second, "the metrics listener", func() (bool, string) {
		for line := range strings.SplitSeq(p.out.String(), "\n") {
			var rec struct{ Message, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Message == "metrics and health listening" {
				addr = rec.Addr
				return true, ""
			}
		}
		return false, "no log line yet"
	})
	return addr
}

// eventually is waitFor at 100 ms, for conditions that cost a round trip
// to a server, with the worker's output in the failure. It fails at once
// if the worker exits.
func (p *process) eventually(d time.Duration, what string, cond func() (bool, string)) {
	p.t.Helper()
	waitFor(p.t, d, 100*time.Millisecond, what, func() (bool, string) {
		ok, state := cond()
		if ok {
			return true, ""
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			p.t.Fatalf("chorus exited (%v) while waiting for %s: %s; output:\n%s", err, what, state, tailOf(p.out.String()))
		default:
		}
		return false, state + "; output:\n" + tailOf(p.out.String())
	})
}

// waitFor asks cond every interval until it holds, failing the test after
// d with cond's account of the state.
func waitFor(t testing.TB, d, every time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if state != "" {
				what += ": " + state
			}
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(every)
	}
}

func (p *process) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

func tailOf(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// packedJobs builds messages of per jobs each (backfill style), n jobs in
// all, with response ids unique across the run.
func packedJobs(n, per int) []sources.OutMessage {
	tenants := []string{"acme", "globex", "initech"}
	var msgs []sources.OutMessage
	for i := 0; i < n; i += per {
		var b strings.Builder
		b.WriteByte('[')
		for k := i; k < min(i+per, n); k++ {
			if k > i {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"response_id":"r-%06d","tenant":"%s","text":"Support answered fast but the invoice was wrong again, case %d."}`, k, tenants[k%3], k)
		}
		b.WriteByte(']')
		msgs = append(msgs, sources.OutMessage{Body: []byte(b.String()), Attributes: map[string]string{"run_id": "e2e"}})
	}
	return msgs
}

// crashAndRecover runs the worker, SIGKILLs it twice mid-run at the given
// progress marks, SIGTERMs it once (it must drain and exit 0), then lets a
// last run finish; committed() reports rows in the sink, drained() that the
// queue is empty and every row is there.
func crashAndRecover(t *testing.T, cfg string, env []string, n int, committed func() int, drained func() bool, state func() string) {
	t.Helper()
	steps := []struct {
		at  int
		sig syscall.Signal
	}{
		{n / 10, syscall.SIGKILL},
		{n * 3 / 10, syscall.SIGKILL},
		{n / 2, syscall.SIGTERM},
	}
	for _, s := range steps {
		p := startChorus(t, cfg, env, "run")
		deadline := time.Now().Add(120 * time.Second)
		for committed() < s.at {
			if time.Now().After(deadline) {
				t.Fatalf("fewer than %d rows after 120s: %d rows, %s; worker output:\n%s", s.at, committed(), state(), tailOf(p.out.String()))
			}
			time.Sleep(50 * time.Millisecond)
		}
		p.signal(s.sig)
		code := p.wait(60 * time.Second)
		switch s.sig {
		case syscall.SIGTERM:
			if code != 0 || !strings.Contains(p.out.String(), `"clean":true`) {
				t.Fatalf("after SIGTERM: exit %d, want 0 with a clean drain; output:\n%s", code, tailOf(p.out.String()))
			}
		default:
			if code == 0 {
				t.Fatalf("SIGKILL exit code 0?")
			}
		}
		t.Logf("%v at %d rows: exit %d", s.sig, committed(), code)
	}
	p := startChorus(t, cfg, env, "run")
	deadline := time.Now().Add(180 * time.Second)
	for !drained() {
		if time.Now().After(deadline) {
			t.Fatalf("not drained after 180s: %d rows, %s; worker output:\n%s", committed(), state(), tailOf(p.out.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(60 * time.Second); code != 0 {
		t.Fatalf("final SIGTERM: exit %d; output:\n%s", code, tailOf(p.out.String()))
	}
}
