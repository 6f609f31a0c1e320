package nb

import (
	"math"
	"strings"
	"testing"
)

func TestTrainErrors(t *testing.T) {
	docs := []Doc{{Text: "a", Labels: []string{"x"}}, {Text: "b"}}
	tests := []struct {
		name   string
		labels []string
		docs   []Doc
		opt    Options
		want   string
	}{
		{"no labels", nil, docs, Options{}, "no labels"},
		{"duplicate label", []string{"x", "x"}, docs, Options{}, "listed twice"},
		{"unknown label", []string{"y"}, docs, Options{}, `unknown label "x"`},
		{"no positives", []string{"x", "y"}, docs, Options{}, `label "y" has 0 positive`},
		{"no negatives", []string{"x"}, docs[:1], Options{}, `label "x" has 1 positive and 0 negative`},
		{"bad alpha", []string{"x"}, docs, Options{Alpha: -1}, "alpha"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Train(tt.labels, tt.docs, tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Train error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestLogitsByHand checks the log odds against the textbook formula on a
// corpus small enough to count by hand.
func TestLogitsByHand(t *testing.T) {
	docs := []Doc{
		{Text: "good good", Labels: []string{"pos"}},
		{Text: "good fine", Labels: []string{"pos"}},
		{Text: "bad"},
	}
	c, err := Train([]string{"pos"}, docs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Vocabulary {good, fine, bad}: V = 3. Positive class: 4 tokens
	// (good×3, fine×1); negative: 1 token (bad×1). Laplace alpha = 1.
	pGood, nGood := (3.0+1)/(4+3), (0.0+1)/(1+3)
	pBad, nBad := (0.0+1)/(4+3), (1.0+1)/(1+3)
	prior := math.Log(2.0 / 1)
	tests := []struct {
		text string
		want float64
	}{
		{"", prior},
		{"unseen words only", prior},
		{"good", prior + math.Log(pGood/nGood)},
		{"Good, GOOD bad!", prior + 2*math.Log(pGood/nGood) + math.Log(pBad/nBad)},
	}
	for _, tt := range tests {
		var z [1]float64
		c.Logits(tt.text, z[:], nil)
		if math.Abs(z[0]-tt.want) > 1e-12 {
			t.Errorf("Logits(%q) = %v, want %v", tt.text, z[0], tt.want)
		}
	}
}

func TestMultiLabelIndependent(t *testing.T) {
	docs := []Doc{
		{Text: "price cost expensive", Labels: []string{"pricing"}},
		{Text: "cheap price", Labels: []string{"pricing"}},
		{Text: "crash down outage", Labels: []string{"reliability"}},
		{Text: "crash again", Labels: []string{"reliability"}},
		{Text: "expensive and crash", Labels: []string{"pricing", "reliability"}},
		{Text: "nice colours"},
	}
	c, err := Train([]string{"pricing", "reliability"}, docs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text          string
		pricing, rely bool
	}{
		{"too expensive", true, false},
		{"it crash", false, true},
		{"expensive price and crash outage", true, true},
	}
	for _, tt := range tests {
		z := make([]float64, 2)
		c.Logits(tt.text, z, nil)
		if got := [2]bool{z[0] > 0, z[1] > 0}; got != [2]bool{tt.pricing, tt.rely} {
			t.Errorf("Logits(%q) = %v: positive %v, want %v", tt.text, z, got, [2]bool{tt.pricing, tt.rely})
		}
	}
}

func TestSigmoid(t *testing.T) {
	tests := []struct{ z, want float64 }{
		{0, 0.5}, {math.Log(3), 0.75}, {-math.Log(3), 0.25}, {1000, 1}, {-1000, 0},
	}
	for _, tt := range tests {
		if got := Sigmoid(tt.z); math.Abs(got-tt.want) > 1e-12 || math.IsNaN(got) {
			t.Errorf("Sigmoid(%v) = %v, want %v", tt.z, got, tt.want)
		}
	}
}
