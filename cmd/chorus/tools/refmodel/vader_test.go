package refmodel

import (
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestVaderPredict(t *testing.T) {
	v := NewVader()
	tests := []struct {
		text string
		sign int // of P(positive) − P(negative)
	}{
		{"This phone is great, I love it!", 1},
		{"Terrible battery, awful support.", -1},
		{"It is not good.", -1},
		{"The box is blue.", 0},
		{"", 0},
	}
	texts := make([]string, len(tests))
	for i, tt := range tests {
		texts[i] = tt.text
	}
	got := v.Predict(texts)
	if len(got) != len(tests) {
		t.Fatalf("Predict returned %d rows for %d texts", len(got), len(tests))
	}
	for i, tt := range tests {
		p := got[i]
		if len(p) != 3 {
			t.Fatalf("%q: %d scores, want 3", tt.text, len(p))
		}
		sum := 0.0
		for _, x := range p {
			if x < 0 || x > 1 {
				t.Errorf("%q: score %v outside [0, 1]", tt.text, x)
			}
			sum += x
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("%q: scores %v sum to %v, want 1", tt.text, p, sum)
		}
		if p[0] > 0 && p[2] > 0 {
			t.Errorf("%q: both negative and positive in %v; the mapping gives one of them 0", tt.text, p)
		}
		if s := sign(p[2] - p[0]); s != tt.sign {
			t.Errorf("%q: polarity sign %d (%v), want %d", tt.text, s, p, tt.sign)
		}
	}
}

func sign(x float64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// TestGovaderVersion keeps GovaderVersion, part of sentiment-vader's
// version, in step with go.mod. (Test binaries carry no dependency list in
// their build info, so go.mod is read directly.)
func TestGovaderVersion(t *testing.T) {
	mod, err := os.ReadFile("../../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	const path = "github.com/jonreiter/govader"
	for line := range strings.Lines(string(mod)) {
		f := strings.Fields(line)
		if f = slices.DeleteFunc(f, func(s string) bool { return s == "require" }); len(f) >= 2 && f[0] == path {
			if f[1] != GovaderVersion {
				t.Errorf("GovaderVersion = %s, but go.mod requires %s: update the constant", GovaderVersion, f[1])
			}
			return
		}
	}
	t.Errorf("go.mod does not require %s", path)
}
