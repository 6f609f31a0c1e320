package pgsink_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/pgsink"
)

// Migrate once (`chorus migrate`), then open the sink and write. The
// example needs a server, so it is compiled but not run.
func Example() {
	ctx := context.Background()
	dsn := os.Getenv("CHORUS_POSTGRES_DSN") // e.g. postgres://chorus@db:5432/feedback?sslmode=verify-full

	applied, err := pgsink.MigrateDSN(ctx, dsn, "public", "chorus_results")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("applied:", applied) // [0001_create_results] the first time, [] after

	sink, err := pgsink.Open(ctx, pgsink.Options{DSN: dsn, Table: "chorus_results", MaxConns: 4, StatementTimeout: 30 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sink.Close(ctx)
	if err := sink.Check(ctx); err != nil { // reachable and migrated?
		fmt.Println(err)
		return
	}

	row := sinks.Result{
		Tenant: "acme", ResponseID: "r-1", Pipeline: "default", PipelineVersion: "v1",
		SentimentLabel: "negative", SentimentScore: 0.2, ScoredAt: time.Now(),
	}
	bad := row
	bad.ResponseID = "" // violates a CHECK: reported by index, the rest committed
	err = sink.Write(ctx, []sinks.Result{row, bad})
	if rowErrs, ok := sinks.AsRowErrors(err); ok {
		for _, re := range rowErrs {
			fmt.Println("rejected row", re.Index, re.Err)
		}
	} else if err != nil {
		fmt.Println(err) // nothing committed; retry if errkind.IsRetryable(err)
	}
	// Operators read the newest result per response from the view.
	fmt.Println("latest view:", pgsink.LatestView("chorus_results"))
}
