package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chorusml/chorus/cmd/chorus/tools/backfill"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
	"github.com/chorusml/chorus/sources/gcppubsub/pubsubtest"
	"github.com/chorusml/chorus/worker/job"
)

// backfillProc is a running `chorus backfill`.
type backfillProc struct {
	*process
}

func startBackfill(t *testing.T, env []string, args ...string) backfillProc {
	t.Helper()
	return backfillProc{startBinary(t, env, append([]string{"backfill"}, args...)...)}
}

// waitConfirmed polls the run's checkpoint until it covers at least n
// records.
func waitConfirmed(t *testing.T, p backfillProc, dir, runID string, n int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cp, err := backfill.LoadCheckpoint(dir, runID); err == nil && cp.Confirmed >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("checkpoint below %d after 60s; output:\n%s", n, tailOf(p.out.String()))
}

// pullJobs pulls until want distinct response ids arrived (or 30s
// passed), then for a second more, and counts every job seen.
func pullJobs(ctx context.Context, t *testing.T, ps *pubsubtest.Server, sub, runID string, want int, into map[string]int) {
	t.Helper()
	distinct := func() int { return len(into) }
	deadline := time.Now().Add(30 * time.Second)
	var quiet time.Time
	for {
		got, err := ps.Pull(ctx, sub, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range got {
			if m.Attributes[job.AttrRunID] != runID {
				t.Fatalf("message attributes %v, want run_id %s", m.Attributes, runID)
			}
			var jobs []job.Job
			if err := json.Unmarshal(m.Data, &jobs); err != nil {
				t.Fatal(err)
			}
			for _, j := range jobs {
				into[j.Tenant+"/"+j.ResponseID]++
			}
		}
		now := time.Now()
		if distinct() >= want {
			if quiet.IsZero() {
				quiet = now.Add(time.Second)
			}
			if now.After(quiet) {
				return
			}
		}
		if now.After(deadline) {
			t.Fatalf("pulled %d distinct jobs after 30s, want %d", distinct(), want)
		}
		if len(got) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// 100,000 jobs in Postgres → chorus backfill → Pub/Sub emulator,
// interrupted once with SIGINT and once with SIGKILL and resumed each time.
// Every job is published; none twice across the SIGINT; duplicates after
// the SIGKILL lie beyond its last checkpoint and within the in-flight
// window.
func TestBackfillPostgresToPubSubResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Postgres, the Pub/Sub emulator and the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pg := pgtest.Start(t)
	ps := pubsubtest.StartEmulator(t)
	chorusBinary(t)
	if err := ps.CreateTopic(ctx, "backfill"); err != nil {
		t.Fatal(err)
	}
	if err := ps.CreateSubscription(ctx, "backfill-sub", "backfill", pubsubtest.SubOpts{AckDeadline: 60 * time.Second}); err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	conn, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `CREATE TABLE feedback AS
		SELECT 'r-' || lpad(i::text, 6, '0') AS response_id, (ARRAY['acme','globex','initech'])[1 + i % 3] AS tenant,
		       'The invoice was wrong again, case ' || i AS text, timestamptz '2026-11-01' + i * interval '1 second' AS created_at
		FROM generate_series(0, $1 - 1) i`, n)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The input order: the query wrapped in ORDER BY tenant, response_id.
	var order []string
	for i := range n {
		order = append(order, fmt.Sprintf("%s/r-%06d", []string{"acme", "globex", "initech"}[i%3], i))
	}
	slices.Sort(order)

	dir := t.TempDir()
	const runID = "bf-e2e"
	env := append(ps.Env(), "CHORUS_POSTGRES_DSN="+pg.DSN())
	args := []string{"--from-postgres-query", "SELECT response_id, tenant, text, created_at FROM feedback",
		"--pubsub-project", ps.Project(), "--pubsub-topic", "backfill", "--checkpoint-dir", dir,
		"--rate", "30000", "--checkpoint-interval", "100ms", "--jobs-per-message", "100"}
	const window = 30000*0.1 + 4*10*100 + 30000*0.3 // rate × interval, in flight, slack

	// 1. SIGINT: drains, checkpoints everything published, exits 130.
	p := startBackfill(t, env, append(args, "--run-id", runID)...)
	waitConfirmed(t, p, dir, runID, 20_000)
	p.signal(syscall.SIGINT)
	if code := p.wait(60 * time.Second); code != 130 || !strings.Contains(p.out.String(), "--resume "+runID) {
		t.Fatalf("after SIGINT: exit %d, want 130 and the resume command; output:\n%s", code, tailOf(p.out.String()))
	}
	cp1, err := backfill.LoadCheckpoint(dir, runID)
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]int{}
	pullJobs(ctx, t, ps, "backfill-sub", runID, int(cp1.Confirmed), first)
	if len(first) != int(cp1.Confirmed) || cp1.Counts.Published != cp1.Confirmed {
		t.Fatalf("after SIGINT: %d distinct jobs published, checkpoint %+v", len(first), cp1)
	}
	for _, k := range order[:cp1.Confirmed] {
		if first[k] != 1 {
			t.Fatalf("after SIGINT: %s published %d times, want once", k, first[k])
		}
	}
	t.Logf("SIGINT at %d records", cp1.Confirmed)

	// 2. SIGKILL: the checkpoint lags by at most the in-flight window.
	p = startBackfill(t, env, append(args, "--resume", runID)...)
	waitConfirmed(t, p, dir, runID, 60_000)
	p.signal(syscall.SIGKILL)
	p.wait(30 * time.Second)
	cp2, err := backfill.LoadCheckpoint(dir, runID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGKILL at checkpoint %d", cp2.Confirmed)

	// 3. Resume to the end.
	p = startBackfill(t, env, append(args, "--resume", runID)...)
	if code := p.wait(120 * time.Second); code != 0 {
		t.Fatalf("final resume: exit %d; output:\n%s", code, tailOf(p.out.String()))
	}
	if out := p.out.String(); !strings.Contains(out, "skipped (confirmed in an earlier attempt)") {
		t.Fatalf("no summary; output:\n%s", tailOf(out))
	}
	cp3, err := backfill.LoadCheckpoint(dir, runID)
	if err != nil {
		t.Fatal(err)
	}
	if !cp3.Done || cp3.Confirmed != n {
		t.Fatalf("final checkpoint %+v", cp3)
	}
	rest := map[string]int{}
	pullJobs(ctx, t, ps, "backfill-sub", runID, n-int(cp1.Confirmed), rest)

	dups := 0
	for i, k := range order {
		c := rest[k]
		if i < int(cp1.Confirmed) {
			if c != 0 {
				t.Fatalf("%s (before the SIGINT checkpoint) published again after it", k)
			}
			continue
		}
		switch {
		case c == 0:
			t.Fatalf("%s never published", k)
		case c > 1 && i < int(cp2.Confirmed):
			t.Fatalf("%s, before the SIGKILL checkpoint %d, published %d times", k, cp2.Confirmed, c)
		case c > 1:
			dups += c - 1
		}
	}
	if len(first)+len(rest) != n {
		t.Fatalf("%d distinct jobs published, want %d", len(first)+len(rest), n)
	}
	if dups > window {
		t.Fatalf("%d duplicates after SIGKILL, more than the in-flight window %v", dups, window)
	}
	t.Logf("%d jobs re-published after SIGKILL (window %v)", dups, window)
}

// A small backfill is drained by the worker into Postgres, its few bad
// jobs into the dead-letter topic; backfill status counts both (the dead
// letters by peeking the DLQ, which it leaves as it was), and a
// --stale-version rerun skips every job that was scored.
func TestBackfillDrainedByWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Postgres, the Pub/Sub emulator and the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg := pgtest.Start(t)
	ps := startPubSub(ctx, t, []string{"chorus-jobs", "chorus-dead"},
		subscription{"chorus-jobs-sub", "chorus-jobs", pubsubtest.SubOpts{}}, subscription{"chorus-dead-sub", "chorus-dead", pubsubtest.SubOpts{}})
	// n good jobs, and bad ones the backfill passes on and the worker
	// dead-letters: blank text (empty_text) and text over the worker's
	// 10,000 bytes (text_too_long). All of globex, so the acme dry run
	// below sees none.
	const n, bad = 300, 5
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"response_id":"r-%04d","tenant":"%s","text":"Support was quick but the app keeps crashing, case %d.","created_at":"2026-11-%02dT10:00:00Z"}`+"\n",
			i, []string{"acme", "globex"}[i%2], i, 1+i%28)
	}
	for i := range bad {
		text := "   "
		if i%2 == 1 {
			text = strings.Repeat("crash ", 2000)
		}
		fmt.Fprintf(&b, `{"response_id":"bad-%d","tenant":"globex","text":%q}`+"\n", i, text)
	}
	file := filepath.Join(t.TempDir(), "jobs.jsonl")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, env := pubsubToPostgres(t, ps, pg, liveSource, modelsYAML(referenceModels(t)))
	cfgPath := filepath.Join(t.TempDir(), "chorus.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	// A dry run publishes nothing and writes no checkpoint.
	p := startBackfill(t, env, "--from-file", file, "--pubsub-project", ps.Project(), "--pubsub-topic", "chorus-jobs",
		"--run-id", "dry", "--checkpoint-dir", dir, "--tenant", "acme", "--dry-run")
	if code := p.wait(60 * time.Second); code != 0 || !strings.Contains(p.out.String(), "would publish (jobs)                       150") {
		t.Fatalf("dry run: exit %d; output:\n%s", code, p.out.String())
	}

	p = startBackfill(t, env, "--from-file", file, "--pubsub-project", ps.Project(), "--pubsub-topic", "chorus-jobs",
		"--run-id", "bf-drain", "--checkpoint-dir", dir, "--jobs-per-message", "40")
	if code := p.wait(60 * time.Second); code != 0 {
		t.Fatalf("backfill: exit %d; output:\n%s", code, p.out.String())
	}
	statusText := func(args ...string) string {
		s := startBackfill(t, env, append([]string{"status", "bf-drain", "--checkpoint-dir", dir}, args...)...)
		if code := s.wait(30 * time.Second); code != 0 {
			t.Fatalf("status %v: exit %d; output:\n%s", args, code, s.out.String())
		}
		return s.out.String()
	}
	status := func(args ...string) backfill.Status {
		out := statusText(append(args, "--json")...)
		var st backfill.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status output %q: %v", out, err)
		}
		return st
	}
	// Without the dead letters named, their count is unknown.
	if out := statusText("--json"); !strings.Contains(out, `"dead_lettered": null`) {
		t.Fatalf("status without a DLQ:\n%s", out)
	}
	if out := statusText(); !strings.Contains(out, "dead-lettered  unknown") || !strings.Contains(out, fmt.Sprintf("pending        %d", n+bad)) {
		t.Fatalf("status without a DLQ:\n%s", out)
	}

	w := startChorus(t, cfg, env, "run")
	deadline := time.Now().Add(90 * time.Second)
	for {
		// The dead-letter topic's one subscription, from the config.
		st := status("--config", cfgPath, "--dlq-wait", "1s")
		if st.InSink == n && st.DeadLettered != nil && *st.DeadLettered == bad && st.Pending == 0 && st.Published == n+bad && st.Done {
			if st.DeadLetterSource != ps.SubscriptionName("chorus-dead-sub") {
				t.Fatalf("dead letters read from %q", st.DeadLetterSource)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v (dead-lettered %v) after 90s; worker output:\n%s", st, st.DeadLettered, tailOf(w.out.String()))
		}
		time.Sleep(500 * time.Millisecond)
	}
	w.signal(syscall.SIGTERM)
	if code := w.wait(60 * time.Second); code != 0 {
		t.Fatalf("worker exit %d", code)
	}
	// The reads consumed nothing: the dlq flags find the same five.
	out := statusText("--pubsub-project", ps.Project(), "--subscription", "chorus-dead-sub", "--dlq-wait", "1s")
	if !strings.Contains(out, fmt.Sprintf("dead-lettered  %d in %s", bad, ps.SubscriptionName("chorus-dead-sub"))) || !strings.Contains(out, "pending        0") {
		t.Fatalf("status with the DLQ flags:\n%s", out)
	}
	t.Logf("status:\n%s", out)

	// Everything now has a row of the pipeline's version: a stale-version
	// backfill of the same file has nothing to do.
	p = startBackfill(t, env, "--from-file", file, "--pubsub-project", ps.Project(), "--pubsub-topic", "chorus-jobs",
		"--checkpoint-dir", dir, "--stale-version", "2026-11-25.1", "--dry-run")
	if code := p.wait(60 * time.Second); code != 0 || !strings.Contains(p.out.String(), "skipped (already scored, stale-version)    300") {
		t.Fatalf("stale-version run: exit %d; output:\n%s", code, p.out.String())
	}
}
