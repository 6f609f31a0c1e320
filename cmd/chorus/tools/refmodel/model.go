// Package refmodel holds the reference models that `chorus models serve`
// serves: real, small text classifiers trained at start-up from the files in
// testdata/models (VADER, multinomial naive Bayes sentiment and topics).
package refmodel

// Model is a text classifier the reference server can serve.
type Model interface {
	// Name is the model's name at the endpoint.
	Name() string
	// Version identifies the model: a hash of its training data (and code
	// revision), stable across restarts.
	Version() string
	// Labels is the label set, in the order Predict scores them.
	Labels() []string
	// MultiLabel is true when each label is scored independently (topics);
	// false when scores are one distribution that sums to 1 (sentiment).
	MultiLabel() bool
	// Predict returns, per text, one probability in [0, 1] per label.
	// It is safe for concurrent use.
	Predict(texts []string) [][]float64
}
