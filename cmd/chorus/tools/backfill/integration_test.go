package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/option"

	"github.com/chorusml/chorus/sinks/bqsink"
	"github.com/chorusml/chorus/sinks/bqsink/bqfake"
	"github.com/chorusml/chorus/sources/awssqs"
	"github.com/chorusml/chorus/sources/awssqs/sqstest"
	"github.com/chorusml/chorus/worker/job"
)

// JSONL file → SQS (moto): every job arrives, packed, with the run id.
func TestJSONLToSQS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	moto := sqstest.StartMoto(t)
	queue, err := moto.CreateQueue(ctx, "backfill", sqstest.QueueOpts{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := awssqs.NewPublisher(moto.Client(t), queue, awssqs.PublisherOptions{MaxMessageBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	r, id := openJSONL(t, writeJobs(t, 600))
	sum, err := Run(ctx, Options{RunID: "sqs-1", Reader: r, Identity: id, Publisher: pub, JobsPerMessage: 100, Pipeline: "default", CheckpointDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := moto.ReceiveAll(ctx, queue)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(msgs)) != sum.Messages || len(msgs) < 600/100 {
		t.Fatalf("%d messages received, %d published", len(msgs), sum.Messages)
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if len(m.Body) > 4096 || m.Attributes[job.AttrRunID] != "sqs-1" || m.Attributes[job.AttrPipeline] != "default" {
			t.Fatalf("message of %d bytes, attributes %v", len(m.Body), m.Attributes)
		}
		var jobs []job.Job
		if err := json.Unmarshal([]byte(m.Body), &jobs); err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			seen[j.ResponseID] = true
		}
	}
	if len(seen) != 600 {
		t.Fatalf("%d distinct jobs received, want 600", len(seen))
	}
}

// A BigQuery query through bqsink's reader and the real client against
// bqfake's REST fake:
// the query is wrapped for a stable order, and the columns map to jobs. A
// REST reactor answers jobs.query (bqfake itself runs only SELECT *).
func TestBigQueryReader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fake := bqfake.Start(t)
	var gotQuery string
	fake.AddReactor(bqfake.RESTJobsQuery, bqfake.ReactorFunc(func(req any) (bool, any, error) {
		in := req.(*bqfake.RESTCall).Body.(*bq.QueryRequest)
		gotQuery = in.Query
		return true, &bq.QueryResponse{
			Kind: "bigquery#queryResponse", JobComplete: true,
			JobReference: &bq.JobReference{ProjectId: "p", JobId: "j1"},
			Schema: &bq.TableSchema{Fields: []*bq.TableFieldSchema{
				{Name: "response_id", Type: "STRING"}, {Name: "tenant", Type: "STRING"}, {Name: "text", Type: "STRING"},
				{Name: "score", Type: "INTEGER"}, {Name: "created_at", Type: "TIMESTAMP"}, {Name: "lang", Type: "STRING"},
			}},
			Rows: []*bq.TableRow{
				{F: []*bq.TableCell{{V: "r-1"}, {V: "acme"}, {V: "slow app"}, {V: "6"}, {V: "1792011600000000"}, {V: "en"}}},
				{F: []*bq.TableCell{{V: "r-2"}, {V: "acme"}, {V: "great"}, {V: nil}, {V: nil}, {V: nil}}},
			},
			TotalRows: 2, ForceSendFields: []string{"TotalRows", "JobComplete"},
		}, nil
	}))
	rows, err := bqsink.OpenQuery(ctx, "p", "SELECT * FROM `p.d.feedback` WHERE tenant = 'acme';", QueryOrder,
		option.WithEndpoint(fake.RESTEndpoint()), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	r := FromRows(rows)
	defer r.Close()
	if want := "SELECT * FROM (SELECT * FROM `p.d.feedback` WHERE tenant = 'acme') q ORDER BY tenant, response_id"; gotQuery != want {
		t.Fatalf("query %q, want %q", gotQuery, want)
	}
	var jobs []job.Job
	for {
		j, err := r.Read(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	if len(jobs) != 2 || r.Total() != 2 {
		t.Fatalf("%d jobs, total %d", len(jobs), r.Total())
	}
	j := jobs[0]
	if j.ResponseID != "r-1" || j.Tenant != "acme" || j.Score == nil || *j.Score != 6 || j.CreatedAt == nil || j.Lang != "en" {
		b, _ := json.Marshal(j)
		t.Fatalf("job %s", b)
	}
	if !strings.HasPrefix(j.CreatedAt.Format(time.RFC3339), "2026-") {
		t.Fatalf("created_at %v", j.CreatedAt)
	}
	if jobs[1].Score != nil || jobs[1].CreatedAt != nil {
		t.Fatalf("NULLs became values: %+v", jobs[1])
	}
}
