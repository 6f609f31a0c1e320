package refmodel

import (
	"fmt"
	"io"

	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel/nb"
)

// Model names at the endpoint.
const (
	NameSentimentVader = "sentiment-vader"
	NameSentimentNB    = "sentiment-nb"
	NameTopics         = "topics"
	NameAcmeTopics     = "acme-topics"
)

// nbRevision names the naive Bayes code (tokenizer, training, output
// mapping); bump it when they change so served versions change too. The
// options are hashed alongside it.
const nbRevision = "refmodel-nb-v1"

// TopicLabels are the shared topics model's labels, in Predict order.
func TopicLabels() []string {
	return []string{"pricing", "support", "reliability", "performance", "usability", "features", "billing", "onboarding"}
}

// AcmeTopicLabels are the acme-topics model's labels, in Predict order.
func AcmeTopicLabels() []string { return []string{"integrations", "mobile-app"} }

// SentimentOptions are sentiment-nb's tokenizer and smoothing settings,
// chosen by cross-validation on the train split (the eval package's
// ablation table shows each part's effect).
func SentimentOptions() nb.Options {
	return nb.Options{Negation: true, Stem: true, StopWords: true, Alpha: 1}
}

// TopicOptions are the topic models' settings, chosen the same way on
// topics.tsv. Negation marking is off: a negated mention of a topic ("not
// fast") is still about that topic. Smoothing is lighter than Laplace
// because a label's few positive examples would otherwise be drowned by
// the smoothing mass of the whole vocabulary.
func TopicOptions() nb.Options {
	return nb.Options{Stem: true, StopWords: true, Alpha: 0.5}
}

// NB is a naive Bayes model: sentiment-nb (one distribution over
// [negative, positive]) or a one-vs-rest topics model (one independent
// probability per label).
type NB struct {
	name, version string
	labels        []string
	multiLabel    bool
	clf           *nb.Classifier
}

// NewSentimentNB trains sentiment-nb on a sentiment file (see
// ReadSentiment); its version hashes the file and the code revision.
func NewSentimentNB(r io.Reader) (*NB, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: read training data: %w", NameSentimentNB, err)
	}
	docs, err := ReadSentiment(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", NameSentimentNB, err)
	}
	opt := SentimentOptions()
	return TrainSentiment(NameSentimentNB, version(data, revision(opt)), docs, opt)
}

// NewTopics trains the shared topics model on a topics file (see
// ReadTopics) with TopicLabels.
func NewTopics(r io.Reader) (*NB, error) { return newTopics(NameTopics, TopicLabels(), r) }

// NewAcmeTopics trains acme's custom topics model with AcmeTopicLabels.
func NewAcmeTopics(r io.Reader) (*NB, error) { return newTopics(NameAcmeTopics, AcmeTopicLabels(), r) }

func newTopics(name string, labels []string, r io.Reader) (*NB, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: read training data: %w", name, err)
	}
	docs, err := ReadTopics(data, labels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	opt := TopicOptions()
	return TrainTopics(name, version(data, revision(opt)), labels, docs, opt)
}

func revision(opt nb.Options) string { return fmt.Sprintf("%s|%+v", nbRevision, opt) }

// TrainSentiment trains a sentiment model on docs labelled LabelPositive or
// nothing (negative); evaluation uses it to train on a split.
func TrainSentiment(name, version string, docs []nb.Doc, opt nb.Options) (*NB, error) {
	clf, err := nb.Train([]string{LabelPositive}, docs, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &NB{name: name, version: version, labels: []string{LabelNegative, LabelPositive}, clf: clf}, nil
}

// TrainTopics trains a one-vs-rest topics model on docs.
func TrainTopics(name, version string, labels []string, docs []nb.Doc, opt nb.Options) (*NB, error) {
	clf, err := nb.Train(labels, docs, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &NB{name: name, version: version, labels: clf.Labels(), multiLabel: true, clf: clf}, nil
}

// Name implements Model.
func (m *NB) Name() string { return m.name }

// Version implements Model.
func (m *NB) Version() string { return m.version }

// Labels implements Model.
func (m *NB) Labels() []string { return append([]string(nil), m.labels...) }

// MultiLabel implements Model.
func (m *NB) MultiLabel() bool { return m.multiLabel }

// Predict implements Model. For sentiment the two-class softmax of the log
// odds z is [1 − σ(z), σ(z)]; for topics each label is σ(its log odds).
func (m *NB) Predict(texts []string) [][]float64 {
	// One scratch buffer per batch: measured against a sync.Pool, the pool
	// saved one 64-byte allocation per batch and no measurable time.
	buf := make([]byte, 0, 64)
	if !m.multiLabel {
		out, flat := rows(len(texts), 2)
		var z [1]float64
		for i, t := range texts {
			buf = m.clf.Logits(t, z[:], buf)
			p := nb.Sigmoid(z[0])
			flat[2*i], flat[2*i+1] = 1-p, p
		}
		return out
	}
	out, _ := rows(len(texts), len(m.labels))
	for i, t := range texts {
		buf = m.clf.Logits(t, out[i], buf)
		for j, z := range out[i] {
			out[i][j] = nb.Sigmoid(z)
		}
	}
	return out
}
