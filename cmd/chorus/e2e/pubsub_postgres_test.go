package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
	"github.com/chorusml/chorus/sources/gcppubsub/pubsubtest"
)

// Pub/Sub (emulator) → chorus binary → Postgres: 50,000 jobs, the worker
// killed with SIGKILL twice and stopped with SIGTERM once, then run to the
// end. Exactly 50,000 rows, every message acked, nothing dead-lettered.
func TestPubSubToPostgresSurvivesCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Pub/Sub emulator, Postgres and the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	ps := startPubSub(ctx, t, []string{"chorus-jobs", "chorus-dead"},
		subscription{"chorus-dead-sub", "chorus-dead", pubsubtest.SubOpts{}},
		subscription{"chorus-jobs-sub", "chorus-jobs", pubsubtest.SubOpts{AckDeadline: 10 * time.Second}})
	const n = 50_000
	var msgs []pubsubtest.Message
	for _, m := range packedJobs(n, 20) {
		msgs = append(msgs, pubsubtest.Message{Data: m.Body, Attributes: m.Attributes})
	}
	if _, err := ps.Publish(ctx, "chorus-jobs", msgs...); err != nil {
		t.Fatal(err)
	}

	// A SIGKILLed worker's messages stay leased until its last deadline
	// extension runs out: max_extension_period 10s bounds that, where the
	// client's adaptive choice had them invisible for about a minute.
	pg := pgtest.Start(t)
	env := append(ps.Env(), "CHORUS_POSTGRES_DSN="+pg.DSN())
	cfg := fmt.Sprintf(`
worker: {max_outstanding_messages: 200, drain_timeout: 30s}
source:
  type: pubsub
  pubsub: {project: %q, subscription: chorus-jobs-sub, dead_letter_topic: chorus-dead, max_extension_period: 10s}
sink:
  type: postgres
  postgres: {dsn_env: CHORUS_POSTGRES_DSN}
`, ps.Project()) + modelsYAML(referenceModels(t))

	for range 2 { // the second run is a no-op
		p := startChorus(t, cfg, env, "migrate")
		if code := p.wait(60 * time.Second); code != 0 {
			t.Fatalf("chorus migrate: exit %d\n%s", code, p.out.String())
		}
	}
	rows := func() int {
		r, err := pgsink.ReadAll(ctx, pg.DSN(), "public", "chorus_results")
		if err != nil {
			t.Fatal(err)
		}
		return len(r)
	}
	crashAndRecover(t, cfg, env, n, rows, func() bool {
		backlog, err := ps.Backlog(ctx, "chorus-jobs-sub")
		return err == nil && backlog == 0 && rows() == n
	}, func() string {
		backlog, err := ps.Backlog(ctx, "chorus-jobs-sub")
		return fmt.Sprintf("backlog %d (%v)", backlog, err)
	})
	if got := rows(); got != n {
		t.Fatalf("%d rows in Postgres, want exactly %d", got, n)
	}
	dead, err := ps.PullAll(ctx, "chorus-dead-sub")
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 0 {
		t.Fatalf("%d dead letters, want none", len(dead))
	}
}
