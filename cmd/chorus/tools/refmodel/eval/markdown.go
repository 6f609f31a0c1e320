package eval

import (
	"fmt"
	"strings"

	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel/nb"
)

// Markdown renders the report as README-ready tables.
func (r *Report) Markdown() string {
	var b strings.Builder
	s := r.Sentiment
	fmt.Fprintf(&b, "Held-out evaluation: each model trains on the train split (FNV-1a(text) mod 5 ≠ 0) and is scored on the test split (mod 5 = 0). "+
		"Options, calibration and weights were chosen on the train split only (%d-fold cross-validation).\n\n", Folds)
	fmt.Fprintf(&b, "| Model | Task | Train | Test | Accuracy |\n|---|---|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| sentiment-nb | sentiment (Amazon reviews) | %d | %d | %.3f |\n", s.Train, s.Test, s.NB)
	fmt.Fprintf(&b, "| sentiment-vader | sentiment (Amazon reviews) | — | %d | %.3f |\n", s.Test, s.Vader)
	fmt.Fprintf(&b, "| ensemble (%.2f·nb + %.2f·vader, calibrated) | sentiment (Amazon reviews) | %d | %d | %.3f |\n\n",
		s.NBWeight, s.VaderWeight, s.Train, s.Test, s.Ensemble)
	fmt.Fprintf(&b, "sentiment-vader says positive when its compound score is > 0. Ensemble calibration p = σ(scale·s + bias), s = P(positive) − P(negative): "+
		"sentiment-nb scale %.3f bias %.3f (fitted on out-of-fold scores), sentiment-vader scale %.3f bias %.3f.\n",
		s.NBCalibration.Scale, s.NBCalibration.Bias, s.VaderCalibration.Scale, s.VaderCalibration.Bias)
	if len(r.Topics) > 0 {
		fmt.Fprintf(&b, "\n| Model | Train | Test | Precision | Recall | F1 | Exact match |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, t := range r.Topics {
			fmt.Fprintf(&b, "| %s | %d | %d | %.3f | %.3f | %.3f | %.3f |\n", t.Model, t.Train, t.Test, t.Precision, t.Recall, t.F1, t.Exact)
		}
		fmt.Fprintf(&b, "\nTopics: one-vs-rest naive Bayes, threshold 0.5, micro-averaged over labels; exact match = every label right.\n")
	}
	fmt.Fprintf(&b, "\nTokenizer options, %d-fold cross-validation on the train split (accuracy for sentiment, micro F1 for topics; **bold** = served):\n\n", Folds)
	fmt.Fprintf(&b, "| Model | Options | CV score |\n|---|---|---:|\n")
	ablation(&b, "sentiment-nb", s.Ablation)
	for _, t := range r.Topics {
		ablation(&b, t.Model, t.Ablation)
	}
	return b.String()
}

func ablation(b *strings.Builder, model string, as []Ablation) {
	for _, a := range as {
		o, score := describe(a.Options), fmt.Sprintf("%.3f", a.Score)
		if a.Served {
			o, score = "**"+o+"**", "**"+score+"**"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", model, o, score)
	}
}

// describe names options for a table cell: the switches on, and alpha.
func describe(o nb.Options) string {
	var parts []string
	for _, f := range []struct {
		on   bool
		name string
	}{{o.Negation, "negation"}, {o.Stem, "stemming"}, {o.StopWords, "stop words"}} {
		if f.on {
			parts = append(parts, f.name)
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "plain")
	}
	alpha := o.Alpha
	if alpha == 0 {
		alpha = 1
	}
	return fmt.Sprintf("%s, α=%g", strings.Join(parts, " + "), alpha)
}
