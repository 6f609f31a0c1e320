package bqsink_test

import (
	"context"
	"fmt"
	"time"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/bqsink"
	"github.com/chorusml/chorus/sinks/bqsink/bqfake"
)

func Example() {
	// An in-process BigQuery; against a real project, leave the client
	// options out and Application Default Credentials are used.
	fake, err := bqfake.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fake.Close()
	rest, write := bqsink.EmulatorOptions(fake.RESTEndpoint(), fake.GRPCEndpoint())
	opts := bqsink.Options{
		Project:            "my-project",
		Dataset:            "chorus",
		ClientOptions:      rest,
		WriteClientOptions: write,
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// `chorus migrate`: dataset and CDC table, once; a second run is a no-op.
	if err := bqsink.Migrate(ctx, opts); err != nil {
		fmt.Println(err)
		return
	}
	sink, err := bqsink.Open(ctx, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	row := sinks.Result{
		Tenant: "acme", ResponseID: "r-1", Pipeline: "default", PipelineVersion: "v1",
		SentimentLabel: "negative", SentimentScore: 0.2, ScoredAt: time.Now(),
	}
	_ = sink.Write(ctx, []sinks.Result{row})
	// The message is redelivered and the job scored again: the upsert
	// replaces the row.
	row.SentimentLabel, row.SentimentScore = "neutral", 0.5
	_ = sink.Write(ctx, []sinks.Result{row})
	_ = sink.Close(ctx)

	rows, err := bqsink.ReadAll(ctx, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rows {
		fmt.Println(r.ResponseID, r.SentimentLabel, r.SentimentScore)
	}
	// Output:
	// r-1 neutral 0.5
}
