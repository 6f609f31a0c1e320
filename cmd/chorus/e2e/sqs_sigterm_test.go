package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks/filesink"
)

// SIGTERM to a worker on SQS at the default 20s wait_time, as the shipped
// EKS config runs it: the idle long polls are cut, the drain is clean and
// the exit code is 0, not the sink's close timing out behind the poll.
func TestSQSSigtermAtDefaultWaitTime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs moto and the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sq := startSQS(ctx, t, 30*time.Second, 5)
	moto, queue, dlq := sq.moto, sq.queue, sq.dlq
	const n = 40
	if _, err := sq.pub.Publish(ctx, packedJobs(n, 10)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "results.jsonl")
	cfg := fmt.Sprintf(`
worker: {drain_timeout: 10s}
source:
  type: sqs
  sqs: {queue_url: %q, dead_letter_queue_url: %q, endpoint: %q, region: us-east-1}
sink: {type: file, file: {path: %q}}
`, queue, dlq, moto.Endpoint(), out) + modelsYAML(referenceModels(t))
	p := startChorus(t, cfg, moto.Env(), "run")
	waitFor(t, 60*time.Second, 10*time.Millisecond, "every job scored", func() (bool, string) {
		rows, err := filesink.ReadAll(out)
		return err == nil && len(rows) == n, fmt.Sprintf("%d rows (%v)", len(rows), err)
	})
	// Idle now: every poller sits in a 20s long poll.
	p.signal(syscall.SIGTERM)
	if code := p.wait(10*time.Second + 2*closeSlack); code != 0 || !strings.Contains(p.out.String(), `"clean":true`) {
		t.Fatalf("exit %d after SIGTERM, want 0 after a clean drain; output:\n%s", code, tailOf(p.out.String()))
	}
}

// closeSlack is what a stage's close may take beyond the drain.
const closeSlack = 5 * time.Second
