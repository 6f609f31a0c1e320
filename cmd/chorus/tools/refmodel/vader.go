package refmodel

import (
	"crypto/sha256"
	"encoding/hex"
	"math"

	"github.com/jonreiter/govader"
)

// GovaderVersion is github.com/jonreiter/govader's version in go.mod; a
// test keeps the two in step, since it is part of the served version.
const GovaderVersion = "v0.0.0-20250429093935-f6505c8d03cc"

// vaderMapping names how compound scores become label probabilities; a new
// mapping needs a new name so the served version changes.
const vaderMapping = "map-v1"

// Vader is the sentiment-vader model: the VADER lexicon and rules.
type Vader struct {
	sia     *govader.SentimentIntensityAnalyzer
	version string
}

// NewVader loads VADER's lexicon.
func NewVader() *Vader {
	sum := sha256.Sum256([]byte("govader@" + GovaderVersion + "|" + vaderMapping))
	return &Vader{sia: govader.NewSentimentIntensityAnalyzer(), version: hex.EncodeToString(sum[:])[:12]}
}

// Name implements Model.
func (*Vader) Name() string { return NameSentimentVader }

// Version implements Model.
func (v *Vader) Version() string { return v.version }

// Labels implements Model.
func (*Vader) Labels() []string { return []string{LabelNegative, LabelNeutral, LabelPositive} }

// MultiLabel implements Model.
func (*Vader) MultiLabel() bool { return false }

// Predict maps VADER's compound score c in [−1, 1] to
// [negative, neutral, positive] = [max(−c, 0), 1 − |c|, max(c, 0)], which
// sums to 1 and whose polarity P(positive) − P(negative) is c itself. (VADER's
// own neg/neu/pos proportions measure how much of the text is emotive, not
// how likely each label is, so they are not used.) govader only reads its
// lexicon after construction, so this is safe for concurrent use.
func (v *Vader) Predict(texts []string) [][]float64 {
	out, flat := rows(len(texts), 3)
	for i, t := range texts {
		c := v.sia.PolarityScores(t).Compound
		if math.IsNaN(c) {
			c = 0
		}
		c = max(-1, min(1, c))
		flat[3*i], flat[3*i+1], flat[3*i+2] = max(-c, 0), 1-math.Abs(c), max(c, 0)
	}
	return out
}

// rows returns n rows of width w backed by one allocation, and the backing
// slice; each row's capacity is capped so appending to one cannot clobber
// the next.
func rows(n, w int) ([][]float64, []float64) {
	flat := make([]float64, n*w)
	out := make([][]float64, n)
	for i := range out {
		out[i] = flat[i*w : (i+1)*w : (i+1)*w]
	}
	return out, flat
}
