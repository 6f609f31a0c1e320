package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks/filesink"
	"github.com/chorusml/chorus/sources/gcppubsub/pubsubtest"
)

// A nightly batch job on a subscription: `chorus run --exit-when-idle`
// scores the backlog and then stops by itself with a clean drain and exit 0,
// every job in the sink and the subscription empty.
func TestExitWhenIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Pub/Sub emulator and the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ps := pubsubtest.StartEmulator(t)
	for _, topic := range []string{"chorus-jobs", "chorus-dead"} {
		if err := ps.CreateTopic(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	if err := ps.CreateSubscription(ctx, "chorus-jobs-sub", "chorus-jobs", pubsubtest.SubOpts{AckDeadline: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	var msgs []pubsubtest.Message
	for _, m := range packedJobs(n, 20) {
		msgs = append(msgs, pubsubtest.Message{Data: m.Body, Attributes: m.Attributes})
	}
	if _, err := ps.Publish(ctx, "chorus-jobs", msgs...); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "results.jsonl")
	cfg := fmt.Sprintf(`
source:
  type: pubsub
  pubsub: {project: %q, subscription: chorus-jobs-sub, dead_letter_topic: chorus-dead}
sink: {type: file, file: {path: %q}}
`, ps.Project(), out) + modelsYAML(referenceModels(t))

	p := startChorus(t, cfg, ps.Env(), "run", "--exit-when-idle", "3s")
	if code := p.wait(150 * time.Second); code != 0 || !strings.Contains(p.out.String(), "no message for the idle limit") ||
		!strings.Contains(p.out.String(), `"clean":true`) {
		t.Fatalf("chorus run --exit-when-idle: exit %d, want 0 after a clean drain; output:\n%s", code, tailOf(p.out.String()))
	}
	rows, err := filesink.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	if backlog, err := ps.Backlog(ctx, "chorus-jobs-sub"); err != nil || backlog != 0 {
		t.Fatalf("backlog after the run: %d (%v), want 0", backlog, err)
	}
}
