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
	// A stand-in for a KServe or Triton server: model metadata and infer.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/models/sentiment", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"name":"sentiment","versions":["3"],"platform":"onnxruntime_onnx",
			"inputs":[{"name":"TEXT","datatype":"BYTES","shape":[-1,1]}],
			"outputs":[{"name":"logits","datatype":"FP32","shape":[-1,3]}]}`)
	})
	mux.HandleFunc("POST /v2/models/sentiment/infer", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"model_name":"sentiment","model_version":"3","outputs":[
			{"name":"logits","shape":[2,3],"datatype":"FP32","data":[0,0,2.0794415,1.9459101,0.6931472,0]}]}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c, err := openinference.New(endpoint.Spec{
		Name:    "sentiment",
		URL:     srv.URL,
		Labels:  []string{"negative", "neutral", "positive"},
		Timeout: 10 * time.Second,
	}, openinference.Options{
		// Input and output names are read from the metadata at Start.
		Output: openinference.Output{Format: openinference.FormatLogits},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if _, err := c.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.Predict(ctx, []string{"Love the new app!", "It keeps crashing."})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, row := range res.Scores {
		fmt.Printf("%.2f\n", row)
	}
	fmt.Println(res.Version)
	// Output:
	// [0.10 0.10 0.80]
	// [0.70 0.20 0.10]
	// 3
}
