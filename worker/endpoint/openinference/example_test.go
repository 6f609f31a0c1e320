package openinference_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/openinference"
)

func Example() {
	// A stand-in for a KServe or Triton server.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"model_name":"sentiment","model_version":"3","outputs":[
			{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0.05,0.15,0.8,0.7,0.2,0.1]}]}`)
	}))
	defer srv.Close()

	c, err := openinference.New(endpoint.Spec{
		Name:    "sentiment",
		URL:     srv.URL, // POSTs go to {URL}/v2/models/sentiment/infer
		Labels:  []string{"negative", "neutral", "positive"},
		Timeout: 10 * time.Second,
		Headers: map[string]string{"Authorization": "Bearer token"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.Predict(context.Background(), []string{"Love the new app!", "It keeps crashing."})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Version, res.Scores)
	// Output: 3 [[0.05 0.15 0.8] [0.7 0.2 0.1]]
}
