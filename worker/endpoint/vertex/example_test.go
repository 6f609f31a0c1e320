package vertex_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/vertex"
)

func Example() {
	// A stand-in for a Vertex AI endpoint serving an AutoML text classifier.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"predictions":[
			{"ids":["11","12","13"],"displayNames":["positive","neutral","negative"],"confidences":[0.8,0.15,0.05]},
			{"ids":["13","12","11"],"displayNames":["negative","neutral","positive"],"confidences":[0.7,0.2,0.1]}],
			"deployedModelId":"5550001","modelVersionId":"4"}`)
	}))
	defer srv.Close()

	c, err := vertex.New(endpoint.Spec{
		Name: "sentiment",
		// A URL ending in ":predict" is used as is; a base URL gets
		// /v1/models/{name}:predict appended.
		URL:    srv.URL + "/v1/projects/acme/locations/europe-west4/endpoints/5550:predict",
		Labels: []string{"negative", "neutral", "positive"},
	}, vertex.Options{}) // the zero Options: AutoML text classification
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
	// Output: 4 [[0.05 0.15 0.8] [0.7 0.2 0.1]]
}
