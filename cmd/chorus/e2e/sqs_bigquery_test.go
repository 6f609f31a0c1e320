package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks/bqsink/bqfake"
)

// SQS (moto) → chorus binary → BigQuery (wire fake): 50,000 jobs, the
// worker killed with SIGKILL twice and stopped with SIGTERM once, then run
// to the end. Exactly 50,000 rows, nothing in the dead-letter queue, the
// queue empty; redelivered batches were absorbed by CDC upserts.
func TestSQSToBigQuerySurvivesCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs moto, the BigQuery fake and the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	sq := startSQS(ctx, t, 5*time.Second, 10)
	moto, queue, dlq := sq.moto, sq.queue, sq.dlq
	bq := bqfake.Start(t)

	const n = 50_000
	if _, err := sq.pub.Publish(ctx, packedJobs(n, 50)); err != nil {
		t.Fatal(err)
	}
	models := referenceModels(t)
	cfg := fmt.Sprintf(`
worker: {max_outstanding_messages: 100, drain_timeout: 30s}
source:
  type: sqs
  sqs: {queue_url: %q, dead_letter_queue_url: %q, endpoint: %q, region: us-east-1, wait_time: 1s, visibility_timeout: 5s, pollers: 2}
sink:
  type: bigquery
  bigquery: {project: chorus-test, dataset: feedback, endpoint: %q, rest_endpoint: %q}
`, queue, dlq, moto.Endpoint(), bq.GRPCEndpoint(), bq.RESTEndpoint()) + modelsYAML(models)

	// chorus migrate creates the dataset and table; twice is a no-op.
	for range 2 {
		p := startChorus(t, cfg, moto.Env(), "migrate")
		if code := p.wait(60 * time.Second); code != 0 {
			t.Fatalf("chorus migrate: exit %d\n%s", code, p.out.String())
		}
	}
	rows := func() int {
		r, err := bq.Rows("chorus-test", "feedback", "chorus_results")
		if err != nil {
			t.Fatal(err)
		}
		return len(r)
	}
	crashAndRecover(t, cfg, moto.Env(), n, rows, func() bool {
		d, err := moto.Depth(ctx, queue)
		return err == nil && d.Empty() && rows() == n
	}, func() string {
		d, err := moto.Depth(ctx, queue)
		return fmt.Sprintf("queue depth %+v (%v)", d, err)
	})
	if got := rows(); got != n {
		t.Fatalf("%d rows visible in BigQuery, want exactly %d", got, n)
	}
	raw, err := bq.RawRows("chorus-test", "feedback", "chorus_results")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rows appended for %d jobs: %d redelivered and absorbed by upserts", len(raw), n, len(raw)-n)
	dead, err := moto.ReceiveAll(ctx, dlq)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 0 {
		t.Fatalf("%d messages in the dead-letter queue, want none", len(dead))
	}
}
