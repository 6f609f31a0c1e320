package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/memsource"
	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint/instant"
)

// scoringYAML is a worker config with instant models; the source and sink
// are supplied by each test.
const scoringYAML = `
source: {type: memory}
sink: {type: file, file: {path: /dev/null}, batch: {max_rows: 200, retry: {max_attempts: 2, backoff: {initial: 10ms, max: 200ms}}}}
worker: {max_outstanding_messages: 300, max_delivery_attempts: 3, nack_backoff: {initial: 10ms, max: 100ms}}
models:
  - {name: sentiment, protocol: open-inference, url: "http://127.0.0.1:1", labels: [negative, positive]}
  - {name: topics, protocol: open-inference, url: "http://127.0.0.1:1", labels: [pricing, support, reliability]}
pipelines:
  - {name: default, version: "v1", sentiment: {models: [{model: sentiment}]}, topics: {models: [{model: topics}]}}
tenants: [{name: "*", pipeline: default}]
`

func jobs(n int, prefix string) []memsource.Message {
	msgs := make([]memsource.Message, n)
	tenants := []string{"acme", "globex", "initech"}
	for i := range msgs {
		msgs[i] = memsource.Message{Body: fmt.Appendf(nil,
			`{"response_id":"%s-%06d","tenant":"%s","text":"The export keeps timing out, job %d."}`, prefix, i, tenants[i%3], i)}
	}
	return msgs
}

// Postgres restarted mid-run: the worker holds its rows and stops pulling
// while the database is down, then resumes; nothing is lost or
// dead-lettered.
func TestPostgresRestartMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postgres")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pg := pgtest.Start(t)
	if _, err := pgsink.MigrateDSN(ctx, pg.DSN(), "public", "chorus_results"); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(scoringYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := pgsink.Open(ctx, pgsink.Options{DSN: pg.DSN(), Schema: "public", Table: "chorus_results", MaxConns: 2, StatementTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20_000
	topic := memsource.NewTopic(memsource.TopicOptions{})
	if err := topic.Publish(ctx, jobs(n, "r")...); err != nil {
		t.Fatal(err)
	}
	src := memsource.NewSource(topic, sources.FlowControl{MaxOutstandingMessages: cfg.Worker.MaxOutstandingMessages})
	w, err := worker.New(worker.Options{Config: cfg, Source: src, Sink: sink, Clients: instant.Factory, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()

	waitFor(t, 30*time.Second, 10*time.Millisecond, "some rows committed", func() (bool, string) {
		s := topic.Stats()
		return s.Acked > 1000, fmt.Sprintf("%+v", s)
	})
	pg.Stop(t)
	waitFor(t, 30*time.Second, 10*time.Millisecond, "the worker to notice", func() (bool, string) { return w.SinkDown(), "" })
	if err := w.Health(); err == nil || !strings.Contains(err.Error(), "sink") {
		t.Errorf("Health with Postgres down = %v, want a sink error (readiness)", err)
	}
	// While the database is down nothing more is acked and intake is capped.
	before := topic.Stats()
	time.Sleep(time.Second)
	during := topic.Stats()
	if during.Acked != before.Acked || during.Outstanding > cfg.Worker.MaxOutstandingMessages {
		t.Fatalf("while Postgres is down: before %+v, after %+v; want no acks and intake capped", before, during)
	}
	pg.Start(t)
	waitFor(t, 60*time.Second, 10*time.Millisecond, "every message acked", func() (bool, string) {
		s := topic.Stats()
		return s.Acked == n && s.Ready+s.Delayed+s.Outstanding == 0, fmt.Sprintf("%+v", s)
	})
	if err := w.Health(); err != nil {
		t.Errorf("Health after Postgres came back = %v, want ready", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	rows, err := pgsink.ReadAll(ctx, pg.DSN(), "public", "chorus_results")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n {
		t.Fatalf("%d rows in Postgres, want %d", len(rows), n)
	}
	if dl := topic.DeadLetters(); len(dl) != 0 {
		t.Fatalf("%d dead letters, want none: %v", len(dl), dl[0].Attributes)
	}
}
