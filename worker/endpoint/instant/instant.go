// Package instant is an endpoint client that answers at once, in-process,
// with fixed scores: for benchmarks of the worker's own cost and for tests
// about queues and sinks, where model behaviour is beside the point.
package instant

import (
	"context"

	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
)

// Client answers every instance with the same scores.
type Client struct{ row []float64 }

// New returns a client scoring label i as (i+1)/(n+1).
func New(labels []string) Client {
	row := make([]float64, len(labels))
	for i := range row {
		row[i] = float64(i+1) / float64(len(row)+1)
	}
	return Client{row: row}
}

// Predict implements endpoint.Client. The rows share one slice: the worker
// only reads scores.
func (c Client) Predict(_ context.Context, texts []string) (*endpoint.Result, error) {
	rows := make([][]float64, len(texts))
	for i := range rows {
		rows[i] = c.row
	}
	return &endpoint.Result{Scores: rows, Version: "instant"}, nil
}

// Factory is a worker.ClientFactory of instant clients.
func Factory(m config.Model) (endpoint.Client, error) { return New(m.Labels), nil }
