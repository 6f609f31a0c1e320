package awssqs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/filesink"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/awssqs"
	"github.com/chorusml/chorus/sources/awssqs/sqstest"
	"github.com/chorusml/chorus/sources/sourcetest"
	"github.com/chorusml/chorus/worker/config"
)

// TestLoad publishes jobs through the Publisher to moto, runs the real
// worker with this source into a JSONL file sink, and checks that every
// valid job is in the sink once, every malformed body is in the
// dead-letter queue with its reason, and the queue is empty at the end.
//
// moto costs time in proportion to the messages a queue holds on every
// send, receive and delete, so the load is published while the worker
// runs, keeping a few hundred messages in the queue, as a backfill
// publisher and a worker would. CHORUS_SQS_E2E_JOBS changes the job count
// (default 20,000).
func TestLoad(t *testing.T) {
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
`, q, dlq, srv.Endpoint(), sqstest.Region, out)+sourcetest.LoadModels), nil)
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
	load := sourcetest.NewLoad(jobs, 42)
	msgs := make([]sources.OutMessage, len(load.Msgs))
	for i, m := range load.Msgs {
		msgs[i] = sources.OutMessage{Body: m.Body, Attributes: m.Attributes}
	}
	pub, err := awssqs.NewPublisher(client, q, awssqs.PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	w := sourcetest.StartLoadWorker(ctx, t, cfg, src, sink)

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
		for i := 0; i < len(msgs); i += chunk {
			for int64(i)-src.Stats().Acked > window && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			if _, err := pub.Publish(ctx, msgs[i:min(i+chunk, len(msgs))]); err != nil {
				pubErr = err
				return
			}
		}
	})
	published := time.Duration(0)
	w.WaitUntil(ctx, t, 10*time.Millisecond, func() (bool, error) {
		select {
		case <-pubDone:
			if pubErr != nil {
				return false, fmt.Errorf("publish: %w", pubErr)
			}
			published, pubDone = time.Since(start), nil
		default:
		}
		return src.Stats().Acked >= int64(len(msgs)), nil
	}, func() string { return fmt.Sprintf("%+v", src.Stats()) })
	wg.Wait()
	elapsed := time.Since(start)
	w.Stop(t)
	st := src.Stats()
	t.Logf("%d jobs in %d messages (%d malformed) in %v (published by %v): %.0f messages/s, %.0f jobs/s; source %+v",
		jobs, len(load.Msgs), len(load.Malformed), elapsed.Round(time.Millisecond), published.Round(time.Millisecond),
		float64(len(load.Msgs))/elapsed.Seconds(), float64(jobs)/elapsed.Seconds(), st)

	// Every valid job once in the sink.
	rows := load.CheckRows(t, out)
	writes, _ := sourcetest.SinkWrites(t, out)
	if lines := sum(writes); lines != len(rows) {
		t.Logf("%d lines for %d rows: %d rewrites from redeliveries (the sink's idempotency absorbs them)", lines, len(rows), lines-len(rows))
	}

	// Every malformed body in the dead-letter queue, with its reason.
	dls, err := srv.ReceiveAll(ctx, dlq)
	if err != nil {
		t.Fatal(err)
	}
	dead := make([]sourcetest.RawMessage, len(dls))
	for i, d := range dls {
		dead[i] = sourcetest.RawMessage{Body: []byte(d.Body), Attributes: d.Attributes}
	}
	load.CheckDeadLetters(t, dead, sourcetest.LoadDeadLetterCheck{})

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

func sum(m map[sinks.Key]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
