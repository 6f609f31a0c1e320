package modelserver_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/openinference"
	"github.com/chorusml/chorus/worker/errkind"
)

func Example() {
	// Emulate a GPU endpoint: 4 batches at once, each costing 2ms plus
	// 50µs per text, at most 64 texts per batch.
	srv := modelserver.New([]refmodel.Model{newFake("sentiment")}, modelserver.Options{
		BatchCost:     2 * time.Millisecond,
		ItemCost:      50 * time.Microsecond,
		MaxConcurrent: 4,
		MaxBatch:      64,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	c, _ := openinference.New(endpoint.Spec{
		Name:   "sentiment",
		URL:    "http://" + ln.Addr().String(),
		Labels: []string{"negative", "neutral", "positive"},
	})
	res, err := c.Predict(ctx, []string{"ab", "abcd"})
	fmt.Println(res.Scores, res.Version, err)

	// Make the model answer 503 with Retry-After, as an overloaded
	// endpoint would.
	_ = srv.SetFault("sentiment", modelserver.Fault{Status: 503, RetryAfter: time.Second})
	_, err = c.Predict(ctx, []string{"ab"})
	wait, _ := errkind.RetryAfterOf(err)
	fmt.Println(errkind.KindOf(err), errkind.ReasonOf(err), wait)

	st := srv.Stats("sentiment")
	fmt.Println(st.Requests, st.Batches, st.Items, st.Faults)

	stop()
	fmt.Println(<-done)
	// Output:
	// [[0.125 0.125 0.75] [0.125 0.75 0.125]] v1 <nil>
	// retryable server_error 1s
	// 2 1 2 1
	// <nil>
}
