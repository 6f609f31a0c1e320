package filesink_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/filesink"
)

func Example() {
	dir, _ := os.MkdirTemp("", "filesink")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "results.jsonl")

	ctx := context.Background()
	sink, err := filesink.Open(path, filesink.Options{CompactOnClose: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	row := sinks.Result{
		Tenant: "acme", ResponseID: "r-1", Pipeline: "default", PipelineVersion: "v1",
		SentimentLabel: "negative", SentimentScore: 0.2, ScoredAt: time.Now(),
	}
	_ = sink.Write(ctx, []sinks.Result{row})
	// A redelivered job is scored again: the same key replaces the row.
	row.SentimentLabel, row.SentimentScore = "neutral", 0.5
	_ = sink.Write(ctx, []sinks.Result{row})
	_ = sink.Close(ctx)

	rows, _ := filesink.ReadAll(path)
	for _, r := range rows {
		fmt.Println(r.ResponseID, r.SentimentLabel, r.SentimentScore)
	}
	// Output:
	// r-1 neutral 0.5
}
