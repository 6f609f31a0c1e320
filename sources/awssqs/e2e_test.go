package awssqs_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/filesink"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/awssqs"
	"github.com/chorusml/chorus/sources/awssqs/sqstest"
	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint/instant"
	"github.com/chorusml/chorus/worker/job"
)

// e2eModels is the demo's models and pipelines; the endpoints answer
// in-process (instant.Factory), so the run measures the source and moto.
const e2eModels = `
models:
  - {name: sentiment-vader, protocol: vertex, url: "http://127.0.0.1:1", labels: [negative, neutral, positive]}
  - {name: sentiment-nb, protocol: open-inference, url: "http://127.0.0.1:1", labels: [negative, positive]}
  - {name: topics, protocol: open-inference, url: "http://127.0.0.1:1",
     labels: [pricing, support, reliability, performance, usability, features, billing, onboarding]}
  - {name: acme-topics, protocol: tei, url: "http://127.0.0.1:1/tei/acme-topics", labels: [integrations, mobile-app], tenants: [acme]}
pipelines:
  - name: default
    version: "e2e"
    sentiment:
      models:
        - {model: sentiment-nb, weight: 0.55}
        - {model: sentiment-vader, weight: 0.45}
    topics:
      models: [{model: topics}, {model: acme-topics, precedence: true}]
    quorum: 2
tenants:
  - {name: acme, pipeline: default}
  - {name: globex, pipeline: default}
  - {name: initech, pipeline: default}
`

var e2eTexts = []string{
	"The app is slow since the update and support never answered.",
	"Love the new dashboard, onboarding was painless.",
	"Got charged twice this month, please fix billing.",
	"The Salesforce integration keeps failing on the iPhone app.",
}

// e2eLoad is the published load: messages of one job or a JSON array of
// 2–5, over three tenants, with about 1% malformed bodies.
type e2eLoad struct {
	msgs      []sources.OutMessage
	jobs      map[sinks.Key]bool // every valid job, by sink key
	malformed map[string]bool    // malformed bodies
}

func makeLoad(jobs int, seed uint64) *e2eLoad {
	r := rand.New(rand.NewPCG(seed, 1))
	tenants := []string{"acme", "globex", "initech"}
	l := &e2eLoad{jobs: map[sinks.Key]bool{}, malformed: map[string]bool{}}
	one := func(i int) (string, string) {
		t := tenants[r.IntN(len(tenants))]
		id := fmt.Sprintf("r-%06d", i)
		l.jobs[sinks.Key{Tenant: t, ResponseID: id, PipelineVersion: "e2e"}] = true
		return t, fmt.Sprintf(`{"response_id":%q,"tenant":%q,"text":%q,"score":%d,"lang":"en"}`, id, t, e2eTexts[i%len(e2eTexts)], i%11)
	}
	for n := 0; n < jobs; {
		if r.IntN(100) == 0 {
			body := fmt.Sprintf(`{"response_id":"bad-%d","tenant":"acme","text":`, len(l.msgs))
			l.malformed[body] = true
			l.msgs = append(l.msgs, sources.OutMessage{Body: []byte(body), Attributes: map[string]string{"run_id": "e2e"}})
			continue
		}
		if k := min(2+r.IntN(4), jobs-n); r.IntN(4) > 0 && k > 1 {
			parts := make([]string, k)
			for j := range parts {
				_, parts[j] = one(n + j)
			}
			n += k
			l.msgs = append(l.msgs, sources.OutMessage{Body: []byte("[" + strings.Join(parts, ",") + "]"), Attributes: map[string]string{"run_id": "e2e"}})
			continue
		}
		t, body := one(n)
		n++
		l.msgs = append(l.msgs, sources.OutMessage{Body: []byte(body), Attributes: map[string]string{"run_id": "e2e", "tenant": t}})
	}
	return l
}

// TestEndToEnd publishes jobs through the Publisher to moto, runs the real
// worker with this source into a JSONL file sink, and checks that every
// valid job is in the sink once, every malformed body is in the
// dead-letter queue with its reason, and the queue is empty at the end.
//
// moto costs time in proportion to the messages a queue holds on every
// send, receive and delete, so the load is published while the worker
// runs, keeping a few hundred messages in the queue, as a backfill
// publisher and a worker would. CHORUS_SQS_E2E_JOBS changes the job count
// (default 20,000).
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run against moto; skipped with -short")
	}
	jobs := 20000
	if v := os.Getenv("CHORUS_SQS_E2E_JOBS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("CHORUS_SQS_E2E_JOBS=%q, want a positive number", v)
		}
		jobs = n
	}
	srv := sqstest.StartMoto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dlq, err := srv.CreateQueue(ctx, "e2e-dlq", sqstest.QueueOpts{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := srv.CreateQueue(ctx, "e2e", sqstest.QueueOpts{RedriveTo: dlq, MaxReceiveCount: 5})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "results.jsonl")
	// One poller: moto, under load, can hand one message to two
	// concurrent receives, which real SQS does not. Concurrent pollers are
	// covered by the conformance suite.
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
worker: {max_outstanding_messages: 200, pullers: 2, receive_batch: 50, drain_timeout: 10s}
source:
  type: sqs
  sqs: {queue_url: %q, dead_letter_queue_url: %q, endpoint: %q, region: %s, pollers: 1, wait_time: 1s}
sink: {type: file, file: {path: %q}}
`, q, dlq, srv.Endpoint(), sqstest.Region, out)+e2eModels), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}

	// What worker/app does for source.type: sqs.
	sq := cfg.Source.SQS
	client, err := awssqs.NewClient(ctx, sq.Region, sq.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var deletes sqstest.DeleteLog
	client = deletes.Record(client)
	src, err := awssqs.New(client, awssqs.Options{
		QueueURL: sq.QueueURL, DeadLetterQueueURL: sq.DeadLetterQueueURL,
		Pollers: sq.Pollers, WaitTime: sq.WaitTime, VisibilityTimeout: sq.VisibilityTimeout, MaxExtension: sq.MaxExtension,
		FlowControl: sources.FlowControl{MaxOutstandingMessages: cfg.Worker.MaxOutstandingMessages, MaxOutstandingBytes: cfg.Worker.MaxOutstandingBytes},
	})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := filesink.Open(out, filesink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Options{Config: cfg, Source: src, Sink: sink, Clients: instant.Factory, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}

	load := makeLoad(jobs, 42)
	pub, err := awssqs.NewPublisher(client, q, awssqs.PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(runCtx) }()

	// Publish in chunks, keeping at most window messages in the queue
	// (published and not yet deleted). moto's cost per call grows with the
	// queue's depth, and a few dozen keep the poller busy: measured with
	// windows of 20 to 400, throughput was flat up to 50 and fell beyond.
	const chunk, window = 20, 30
	var (
		pubErr  error
		pubDone = make(chan struct{})
		wg      sync.WaitGroup
	)
	wg.Go(func() {
		defer close(pubDone)
		for i := 0; i < len(load.msgs); i += chunk {
			for int64(i)-src.Stats().Acked > window && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			if _, err := pub.Publish(ctx, load.msgs[i:min(i+chunk, len(load.msgs))]); err != nil {
				pubErr = err
				return
			}
		}
	})
	published := time.Duration(0)
	for src.Stats().Acked < int64(len(load.msgs)) {
		select {
		case err := <-runErr:
			t.Fatalf("worker stopped early: %v", err)
		case <-ctx.Done():
			t.Fatalf("timed out: %+v", src.Stats())
		case <-pubDone:
			if pubErr != nil {
				t.Fatalf("publish: %v", pubErr)
			}
			published, pubDone = time.Since(start), nil
		case <-time.After(10 * time.Millisecond):
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	if err := <-runErr; err != nil {
		t.Fatalf("worker: %v", err)
	}
	st := src.Stats()
	t.Logf("%d jobs in %d messages (%d malformed) in %v (published by %v): %.0f messages/s, %.0f jobs/s; source %+v",
		jobs, len(load.msgs), len(load.malformed), elapsed.Round(time.Millisecond), published.Round(time.Millisecond),
		float64(len(load.msgs))/elapsed.Seconds(), float64(jobs)/elapsed.Seconds(), st)

	// Every valid job once in the sink.
	rows, err := filesink.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if !load.jobs[r.Key()] {
			t.Errorf("unexpected row %+v", r.Key())
			continue
		}
		delete(load.jobs, r.Key())
	}
	if len(load.jobs) > 0 {
		t.Errorf("%d of %d jobs missing from the sink", len(load.jobs), jobs)
	}
	if lines := countLines(t, out); lines != len(rows) {
		t.Logf("%d lines for %d rows: %d rewrites from redeliveries (the sink's idempotency absorbs them)", lines, len(rows), lines-len(rows))
	}

	// Every malformed body in the dead-letter queue, with its reason.
	dead, err := srv.ReceiveAll(ctx, dlq)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dead {
		if !load.malformed[d.Body] {
			if _, seen := load.malformed[d.Body]; !seen {
				t.Errorf("unexpected dead letter %q %v", d.Body, d.Attributes)
			}
			continue
		}
		a := d.Attributes
		if a[sources.AttrErrorClass] != string(job.ReasonMalformedJSON) || a[sources.AttrFailedAt] != "decode" ||
			a[sources.AttrSourceMessageID] == "" || a[sources.AttrError] == "" || a["run_id"] != "e2e" {
			t.Errorf("dead letter %q: attributes %v", d.Body, a)
		}
		load.malformed[d.Body] = false
	}
	for body, missing := range load.malformed {
		if missing {
			t.Errorf("malformed body %q not dead-lettered", body)
		}
	}
	if len(dead) != len(load.malformed) {
		t.Logf("%d dead letters for %d malformed bodies (redelivered before the ack)", len(dead), len(load.malformed))
	}

	// Nothing left in the queue, in flight or not.
	d, err := srv.Depth(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Empty() {
		// moto's unlocked delete can put back a message it was asked to
		// delete (see sqstest.DeleteLog). Such a message still answers to
		// the handle the Source deleted it with; anything else left here
		// is a message the Source did not delete.
		revived, err := srv.Revive(ctx, q, deletes.Handles())
		if err != nil {
			t.Fatal(err)
		}
		left, err := srv.ReceiveAll(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("queue depth %+v at the end: moto kept %d messages the Source had deleted", d, revived)
		if d, err = srv.Depth(ctx, q); err != nil {
			t.Fatal(err)
		}
		if len(left) != revived || !d.Empty() {
			t.Errorf("queue not empty at the end: %d messages left that the Source never deleted, then %+v", len(left)-revived, d)
		}
	}
	// With a 30s visibility timeout and jobs done in seconds, nothing here
	// lapses; but moto, under load, hands one message to two concurrent
	// receives (Duplicates), and the older receipt handle is then refused.
	// A refused handle no duplicate explains would be a lapse. TestLease
	// proves the heartbeat itself, with visibility shorter than processing.
	if st.HandleInvalid > st.Duplicates {
		t.Errorf("%d receipt handles refused with %d duplicate receipts: visibility lapsed during the run", st.HandleInvalid, st.Duplicates)
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		n++
	}
	return n
}
