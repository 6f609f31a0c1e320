// Package eval measures the reference models on held-out data: each model
// trains on the train split (refmodel.Split) and is scored on the test
// split, never on data it saw. Everything chosen (tokenizer options, the
// ensemble's calibration and weights) is chosen on the train split alone,
// by cross-validation where a model must not score its own training data.
package eval

import (
	"fmt"
	"io/fs"
	"math"
	"slices"

	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel/nb"
)

// Folds is the number of cross-validation folds inside the train split.
const Folds = 5

// nbWeights are the ensemble weights of sentiment-nb tried on the train
// split; vader gets 1 − w.
func nbWeights() []float64 { return []float64{0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9} }

// Calibration is config.Calibration's shape (Platt scaling: p =
// σ(Scale·s + Bias)), so config.Calibration(c) converts it. It is declared
// here so that evaluation does not depend on the config package.
type Calibration struct {
	Scale, Bias float64
}

// Report is the evaluation of all reference models.
type Report struct {
	Sentiment Sentiment
	Topics    []Topics // topics, then acme-topics
}

// Sentiment is the binary (positive vs. negative) sentiment evaluation.
type Sentiment struct {
	Train, Test int // docs in each split
	// Test accuracy of each model alone: sentiment-nb says positive when
	// P(positive) ≥ 0.5, sentiment-vader when its compound score is > 0
	// (a compound of exactly 0, i.e. no sentiment words, counts as
	// negative).
	NB, Vader float64
	// Ensemble is the test accuracy of the worker's ensemble rule: per model
	// s = P(positive) − P(negative), p = σ(scale·s + bias), combined
	// P(positive) = weighted mean of p, positive when ≥ 0.5.
	Ensemble float64
	// Calibrations and weights fitted on the train split: NB's on
	// out-of-fold predictions (Folds folds), VADER's directly (it does not
	// train). NBWeight was chosen by out-of-fold train accuracy, ties broken
	// by log loss; VaderWeight = 1 − NBWeight.
	NBCalibration, VaderCalibration Calibration
	NBWeight, VaderWeight           float64
	// Ablation is sentiment-nb's out-of-fold train accuracy under the
	// served options and variations of them: how the options were chosen.
	Ablation []Ablation
}

// Topics is the evaluation of one multi-label topics model at threshold
// 0.5, micro-averaged over labels.
type Topics struct {
	Model                        string
	Train, Test                  int
	Precision, Recall, F1, Exact float64
	// Ablation is the out-of-fold train micro F1 under the served options
	// and variations of them.
	Ablation []Ablation
}

// Ablation is one setting's cross-validated score on the train split.
type Ablation struct {
	Options nb.Options
	Score   float64 // accuracy (sentiment) or micro F1 (topics)
	Served  bool    // the options the served model uses
}

// Run evaluates the reference models on their training files in fsys (laid
// out as in chorus.Data).
func Run(fsys fs.FS) (*Report, error) {
	data, err := fs.ReadFile(fsys, refmodel.SentimentFile)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	s, err := EvalSentiment(data)
	if err != nil {
		return nil, err
	}
	r := &Report{Sentiment: *s}
	for _, t := range []struct {
		name, file string
		labels     []string
	}{
		{refmodel.NameTopics, refmodel.TopicsFile, refmodel.TopicLabels()},
		{refmodel.NameAcmeTopics, refmodel.AcmeTopicsFile, refmodel.AcmeTopicLabels()},
	} {
		data, err := fs.ReadFile(fsys, t.file)
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		tr, err := EvalTopics(t.name, t.labels, data)
		if err != nil {
			return nil, err
		}
		r.Topics = append(r.Topics, *tr)
	}
	return r, nil
}

// EvalSentiment evaluates sentiment-nb, sentiment-vader and their ensemble
// on a sentiment file (see refmodel.ReadSentiment).
func EvalSentiment(data []byte) (*Sentiment, error) {
	docs, err := refmodel.ReadSentiment(data)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	train, test := refmodel.Split(docs)
	if len(test) == 0 {
		return nil, fmt.Errorf("eval: %s: no docs in the test split", refmodel.NameSentimentNB)
	}
	yTrain, yTest := truth(train), truth(test)
	vader := refmodel.NewVader()
	r := &Sentiment{Train: len(train), Test: len(test)}

	opt := refmodel.SentimentOptions()
	var oof []float64 // the served options' out-of-fold polarities
	for _, o := range variants(opt) {
		p, err := sentimentOutOfFold(train, o)
		if err != nil {
			return nil, err
		}
		r.Ablation = append(r.Ablation, Ablation{Options: o, Score: accuracy(p, yTrain, 0), Served: o == opt})
		if o == opt {
			oof = p
		}
	}

	vTrain := polarities(vader, texts(train))
	r.NBCalibration, r.VaderCalibration = fitPlatt(oof, yTrain), fitPlatt(vTrain, yTrain)
	bestAcc, bestLoss := -1.0, math.Inf(1)
	for _, w := range nbWeights() {
		p := blend(w, r.NBCalibration, oof, r.VaderCalibration, vTrain)
		acc, loss := accuracy(p, yTrain, 0.5), logLoss(p, yTrain)
		if acc > bestAcc || acc == bestAcc && loss < bestLoss {
			bestAcc, bestLoss, r.NBWeight = acc, loss, w
		}
	}
	// Rounded so the complement of a grid value prints as the grid value it is.
	r.VaderWeight = math.Round((1-r.NBWeight)*1e9) / 1e9

	m, err := refmodel.TrainSentiment(refmodel.NameSentimentNB, "eval", train, opt)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	nbTest, vTest := polarities(m, texts(test)), polarities(vader, texts(test))
	r.NB = accuracy(nbTest, yTest, 0)
	r.Vader = accuracyAbove(vTest, yTest, 0)
	r.Ensemble = accuracy(blend(r.NBWeight, r.NBCalibration, nbTest, r.VaderCalibration, vTest), yTest, 0.5)
	return r, nil
}

// EvalTopics trains a one-vs-rest topics model with labels on the train
// split of a topics file (see refmodel.ReadTopics) and scores the test
// split at threshold 0.5.
func EvalTopics(name string, labels []string, data []byte) (*Topics, error) {
	docs, err := refmodel.ReadTopics(data, labels)
	if err != nil {
		return nil, fmt.Errorf("eval: %s: %w", name, err)
	}
	train, test := refmodel.Split(docs)
	if len(test) == 0 {
		return nil, fmt.Errorf("eval: %s: no docs in the test split", name)
	}
	opt := refmodel.TopicOptions()
	r := &Topics{Model: name, Train: len(train), Test: len(test)}
	for _, o := range variants(opt) {
		var s topicScore
		for f := range Folds {
			fit, held := fold(train, f)
			m, err := refmodel.TrainTopics(name, "eval", labels, fit, o)
			if err != nil {
				return nil, fmt.Errorf("eval: fold %d: %w", f, err)
			}
			s.add(m.Predict(texts(held)), held, labels)
		}
		r.Ablation = append(r.Ablation, Ablation{Options: o, Score: s.f1(), Served: o == opt})
	}

	m, err := refmodel.TrainTopics(name, "eval", labels, train, opt)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	var s topicScore
	s.add(m.Predict(texts(test)), test, labels)
	r.Precision, r.Recall, r.F1, r.Exact = ratio(s.tp, s.tp+s.fp), ratio(s.tp, s.tp+s.fn), s.f1(), ratio(s.exact, s.docs)
	return r, nil
}

// topicScore accumulates multi-label counts at threshold 0.5.
type topicScore struct{ tp, fp, fn, exact, docs int }

func (s *topicScore) add(pred [][]float64, docs []nb.Doc, labels []string) {
	for i, p := range pred {
		same := true
		for j, l := range labels {
			got, want := p[j] >= 0.5, slices.Contains(docs[i].Labels, l)
			switch {
			case got && want:
				s.tp++
			case got:
				s.fp++
			case want:
				s.fn++
			}
			same = same && got == want
		}
		if same {
			s.exact++
		}
		s.docs++
	}
}

func (s *topicScore) f1() float64 { return ratio(2*s.tp, 2*s.tp+s.fp+s.fn) }

// variants are served and the settings one change away from it (each
// switch flipped; Laplace smoothing if it uses another alpha), then none
// of them: enough to show what each part contributes.
func variants(served nb.Options) []nb.Options {
	out := []nb.Options{served}
	add := func(o nb.Options) {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	o := served
	o.Negation = !o.Negation
	add(o)
	o = served
	o.Stem = !o.Stem
	add(o)
	o = served
	o.StopWords = !o.StopWords
	add(o)
	if served.Alpha != 0 && served.Alpha != 1 {
		o = served
		o.Alpha = 0
		add(o)
	}
	add(nb.Options{})
	return out
}

// fold splits docs into the k-th fold (held) and the rest (fit). The split
// already used TextHash mod 5; dividing that out keeps fold membership
// independent of it.
func fold(docs []nb.Doc, k int) (fit, held []nb.Doc) {
	for _, d := range docs {
		if int(refmodel.TextHash(d.Text)/5%Folds) == k {
			held = append(held, d)
		} else {
			fit = append(fit, d)
		}
	}
	return fit, held
}

// sentimentOutOfFold returns, for each train doc, sentiment-nb's polarity
// from a model trained on the other folds: scores for text the model has
// not seen, as in service, which is what calibration must be fitted on.
func sentimentOutOfFold(train []nb.Doc, opt nb.Options) ([]float64, error) {
	pos := make(map[string]float64, len(train))
	for f := range Folds {
		fit, held := fold(train, f)
		m, err := refmodel.TrainSentiment(refmodel.NameSentimentNB, "eval", fit, opt)
		if err != nil {
			return nil, fmt.Errorf("eval: fold %d: %w", f, err)
		}
		for j, s := range polarities(m, texts(held)) {
			pos[held[j].Text] = s
		}
	}
	// By text: equal texts share a fold, so they share a score too.
	out := make([]float64, len(train))
	for i, d := range train {
		out[i] = pos[d.Text]
	}
	return out, nil
}

// polarities is P(positive) − P(negative) per text, the score the ensemble
// calibrates.
func polarities(m refmodel.Model, ts []string) []float64 {
	neg := slices.Index(m.Labels(), refmodel.LabelNegative)
	pos := slices.Index(m.Labels(), refmodel.LabelPositive)
	out := make([]float64, len(ts))
	for i, p := range m.Predict(ts) {
		out[i] = p[pos] - p[neg]
	}
	return out
}

// blend is the ensemble's combined P(positive): the weighted mean of each
// model's calibrated probability.
func blend(w float64, nbc Calibration, nbS []float64, vc Calibration, vS []float64) []float64 {
	out := make([]float64, len(nbS))
	for i := range out {
		out[i] = w*calibrate(nbc, nbS[i]) + (1-w)*calibrate(vc, vS[i])
	}
	return out
}

// accuracy is the share of docs whose score is ≥ threshold exactly when
// they are positive.
func accuracy(score []float64, y []bool, threshold float64) float64 {
	right := 0
	for i, s := range score {
		if (s >= threshold) == y[i] {
			right++
		}
	}
	return ratio(right, len(score))
}

// accuracyAbove is accuracy with positive meaning strictly above threshold.
func accuracyAbove(score []float64, y []bool, threshold float64) float64 {
	right := 0
	for i, s := range score {
		if (s > threshold) == y[i] {
			right++
		}
	}
	return ratio(right, len(score))
}

func truth(docs []nb.Doc) []bool {
	y := make([]bool, len(docs))
	for i, d := range docs {
		y[i] = slices.Contains(d.Labels, refmodel.LabelPositive)
	}
	return y
}

func texts(docs []nb.Doc) []string {
	ts := make([]string, len(docs))
	for i, d := range docs {
		ts[i] = d.Text
	}
	return ts
}

// ratio is a/b, or 0 when b is 0 (e.g. precision with no predictions,
// reported as 0 rather than NaN so the table stays printable).
func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
