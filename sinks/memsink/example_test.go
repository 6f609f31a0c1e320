package memsink_test

import (
	"context"
	"fmt"

	"github.com/chorusml/chorus/sinks/memsink"
	"github.com/chorusml/chorus/worker/job"
)

func Example() {
	s := memsink.New()
	row := job.Result{Tenant: "acme", ResponseID: "r-1", PipelineVersion: "v1", SentimentLabel: "positive", SentimentScore: 0.9}
	_ = s.Write(context.Background(), []job.Result{row})
	row.SentimentScore = 0.8 // redelivery rewrites the same key
	_ = s.Write(context.Background(), []job.Result{row})
	fmt.Println(s.Len(), s.Rows()[0].SentimentScore)
	// Output: 1 0.8
}
