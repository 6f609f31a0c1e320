// Package nb is multinomial naive Bayes over bags of words, one binary
// classifier per label (label vs. rest), sharing one vocabulary. A single
// label is an ordinary two-class classifier (e.g. positive vs. negative
// sentiment); several labels are one-vs-rest multi-label tagging.
package nb

import (
	"errors"
	"fmt"
	"math"
)

// Options set tokenization and smoothing. The zero value is plain tokens
// (no negation marking, stemming or stop words) and Laplace smoothing.
type Options struct {
	// Negation marks tokens after a negator (not, no, never, …n't) up to the
	// next clause punctuation with NotPrefix, so that "not good" is not
	// counted as evidence for "good".
	Negation bool
	// Alpha is the additive smoothing per word and class; 0 means 1
	// (Laplace).
	Alpha float64
	// Stem strips common English suffixes from tokens.
	Stem bool
	// StopWords drops common function words.
	StopWords bool
}

// Doc is one training example: a text and the labels it has. A doc with no
// labels is a negative example for every label.
type Doc struct {
	Text   string
	Labels []string
}

// Classifier scores texts; it is immutable after Train and so safe for
// concurrent use.
type Classifier struct {
	labels []string
	opt    Options
	vocab  map[string]int32
	// bias[l] is the log prior odds of label l; weights[v*L+l] is
	// log P(word v | l) − log P(word v | not l). Storing the difference
	// rather than both classes' log-likelihoods halves the work per token,
	// and the word's L weights are adjacent, so one vocabulary lookup feeds
	// all labels from one cache line.
	bias    []float64
	weights []float64
}

// Train fits one binary multinomial naive Bayes per label. It fails when a
// doc names a label not in labels, or a label has no positive or no
// negative doc (its prior odds would be infinite).
func Train(labels []string, docs []Doc, opt Options) (*Classifier, error) {
	if len(labels) == 0 {
		return nil, errors.New("nb: no labels")
	}
	alpha := opt.Alpha
	if alpha == 0 {
		alpha = 1
	}
	if alpha < 0 || math.IsNaN(alpha) || math.IsInf(alpha, 0) {
		return nil, fmt.Errorf("nb: smoothing alpha %v: want > 0", alpha)
	}
	index := make(map[string]int, len(labels))
	for i, l := range labels {
		if _, dup := index[l]; dup {
			return nil, fmt.Errorf("nb: label %q listed twice", l)
		}
		index[l] = i
	}
	L := len(labels)

	c := &Classifier{labels: append([]string(nil), labels...), opt: opt, vocab: make(map[string]int32)}
	// counts[v*L+l] counts word v in docs with label l; all[v] in all docs.
	var counts, all []float64
	posDocs := make([]int, L)
	posTokens := make([]float64, L)
	totalTokens := 0.0
	has := make([]bool, L)
	var buf []byte
	for i, d := range docs {
		clear(has)
		for _, l := range d.Labels {
			j, ok := index[l]
			if !ok {
				return nil, fmt.Errorf("nb: doc %d: unknown label %q", i, l)
			}
			if !has[j] {
				has[j] = true
				posDocs[j]++
			}
		}
		buf = eachToken(d.Text, opt, buf, func(tok []byte) {
			v, ok := c.vocab[string(tok)]
			if !ok {
				v = int32(len(c.vocab))
				c.vocab[string(tok)] = v
				counts = append(counts, make([]float64, L)...)
				all = append(all, 0)
			}
			all[v]++
			totalTokens++
			for j, h := range has {
				if h {
					counts[int(v)*L+j]++
					posTokens[j]++
				}
			}
		})
	}

	V := float64(len(c.vocab))
	c.bias = make([]float64, L)
	c.weights = counts // reuse: each cell is read once, then overwritten
	for j := range L {
		pos, neg := posDocs[j], len(docs)-posDocs[j]
		if pos == 0 || neg == 0 {
			return nil, fmt.Errorf("nb: label %q has %d positive and %d negative docs: want both", labels[j], pos, neg)
		}
		c.bias[j] = math.Log(float64(pos)) - math.Log(float64(neg))
		posDen := math.Log(posTokens[j] + alpha*V)
		negDen := math.Log(totalTokens - posTokens[j] + alpha*V)
		for v := range len(all) {
			p := counts[v*L+j]
			n := all[v] - p
			c.weights[v*L+j] = (math.Log(p+alpha) - posDen) - (math.Log(n+alpha) - negDen)
		}
	}
	return c, nil
}

// Labels returns the label names, in the order of Logits' output.
func (c *Classifier) Labels() []string { return c.labels }

// VocabSize is the number of distinct tokens seen in training.
func (c *Classifier) VocabSize() int { return len(c.vocab) }

// Logits writes into dst (len ≥ len(Labels())) each label's log odds,
// log P(l | text) − log P(not l | text); tokens not seen in training carry
// no evidence and are skipped. buf is scratch space for tokenizing; the
// possibly grown buf is returned for reuse.
func (c *Classifier) Logits(text string, dst []float64, buf []byte) []byte {
	L := len(c.labels)
	dst = dst[:L]
	copy(dst, c.bias)
	return eachToken(text, c.opt, buf, func(tok []byte) {
		v, ok := c.vocab[string(tok)]
		if !ok {
			return
		}
		w := c.weights[int(v)*L : int(v)*L+L]
		for j := range dst {
			dst[j] += w[j]
		}
	})
}

// Sigmoid is the logistic function, the two-class softmax: for log odds z
// it returns P = 1/(1+e^−z), computed so neither tail overflows.
func Sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
