package memsink_test

import (
	"context"
	"fmt"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/memsink"
)

func Example() {
	s := memsink.New()
	row := sinks.Result{Tenant: "acme", ResponseID: "r-1", PipelineVersion: "v1", SentimentLabel: "positive", SentimentScore: 0.9}
	_ = s.Write(context.Background(), []sinks.Result{row})
	row.SentimentScore = 0.8 // redelivery rewrites the same key
	_ = s.Write(context.Background(), []sinks.Result{row})
	fmt.Println(s.Len(), s.Rows()[0].SentimentScore)
	// Output: 1 0.8
}
