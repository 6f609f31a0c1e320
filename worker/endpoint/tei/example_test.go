package tei_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/tei"
)

func Example() {
	// A stand-in for text-embeddings-inference serving a classifier.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `[
			[{"score":0.8,"label":"positive"},{"score":0.15,"label":"neutral"},{"score":0.05,"label":"negative"}],
			[{"score":0.7,"label":"negative"},{"score":0.2,"label":"neutral"},{"score":0.1,"label":"positive"}]]`)
	}))
	defer srv.Close()

	c, err := tei.New(endpoint.Spec{
		Name:   "sentiment",
		URL:    srv.URL, // POSTs go to {URL}/predict
		Labels: []string{"negative", "neutral", "positive"},
	}, tei.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.Predict(context.Background(), []string{"Love the new app!", "It keeps crashing."})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q %v\n", res.Version, res.Scores)
	// Output: "" [[0.05 0.15 0.8] [0.7 0.2 0.1]]
}
