package pubsubtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus/worker/testenv"
)

// emulatorStartTimeout bounds the emulator's start-up (about 1.5 s on a
// warm machine; the JVM can take far longer on a cold, busy one).
const emulatorStartTimeout = 60 * time.Second

// StartEmulator starts the Pub/Sub emulator on a free loopback port with
// `gcloud beta emulators pubsub start` and stops it when the test ends. It
// skips the test (fails it under CI=true, see testenv) when gcloud, the
// pubsub-emulator component or Java is missing. The emulator keeps its
// data in a temporary directory, so every call starts empty.
//
// gcloud runs the emulator as a Java child process: both run in their own
// process group, and the cleanup kills the whole group.
func StartEmulator(t testing.TB) *Server {
	t.Helper()
	if err := EmulatorAvailable(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	gcloud, _ := exec.LookPath("gcloud")

	dir := t.TempDir() // before the kill is registered, so removed after it
	host := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
	dataDir := filepath.Join(dir, "data")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatalf("pubsubtest: %v", err)
	}
	logPath := filepath.Join(dir, "emulator.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("pubsubtest: %v", err)
	}
	defer logFile.Close() // the child has its own descriptor

	cmd := exec.Command(gcloud, "--quiet", "beta", "emulators", "pubsub", "start",
		"--host-port="+host, "--data-dir="+dataDir, "--project="+DefaultProject)
	cmd.Env = append(os.Environ(), "CLOUDSDK_CORE_DISABLE_PROMPTS=1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("pubsubtest: starting the emulator: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { stopGroup(cmd, exited) })

	if err := waitListening(host, exited, emulatorStartTimeout); err != nil {
		t.Fatalf("pubsubtest: emulator on %s: %v\n%s", host, err, logTail(logPath))
	}
	return newServer(t, KindEmulator, host)
}

// EmulatorAvailable reports why StartEmulator would skip, or nil if it can
// start the emulator: for tests that fall back to the fake instead.
func EmulatorAvailable() error {
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		return errors.New("gcloud not found on PATH (Google Cloud SDK)")
	}
	if !hasEmulator(gcloud) {
		return errors.New("the gcloud pubsub-emulator component is not installed (gcloud components install pubsub-emulator, or apt install google-cloud-cli-pubsub-emulator)")
	}
	if _, err := exec.LookPath("java"); err != nil {
		return errors.New("java not found on PATH (the Pub/Sub emulator runs on it)")
	}
	return nil
}

// hasEmulator reports whether the SDK that gcloud belongs to has the
// emulator component. A packaged gcloud is a link into the SDK; otherwise
// gcloud says where its SDK is.
func hasEmulator(gcloud string) bool {
	has := func(root string) bool {
		_, err := os.Stat(filepath.Join(root, "platform", "pubsub-emulator"))
		return err == nil
	}
	if p, err := filepath.EvalSymlinks(gcloud); err == nil && has(filepath.Dir(filepath.Dir(p))) {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, gcloud, "info", "--format=value(installation.sdk_root)").Output()
	return err == nil && has(strings.TrimSpace(string(out)))
}

// waitListening waits until host accepts connections, or fails early if
// the process exits.
func waitListening(host string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", host, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("gcloud exited before the emulator listened")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening after %v: %w", timeout, err)
		}
	}
}

// logTail returns the end of the emulator's log, for a failure message.
func logTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}
