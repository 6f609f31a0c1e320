package httpx

import (
	"math"
)

// slack absorbs float32 rounding: a softmax computed in FP32 can come out
// a hair above 1 or below 0 without the model being wrong.
const slack = 1e-6

// Prob checks that v is a probability and clamps FP32 rounding into [0, 1].
func Prob(v float64) (float64, error) {
	if math.IsNaN(v) || v < -slack || v > 1+slack {
		return 0, BadResponse("score %v is not a probability", v)
	}
	return min(max(v, 0), 1), nil
}

// NewScores allocates n rows of l zero scores in one backing array, which
// it also returns for adapters that fill it in row-major order.
func NewScores(n, l int) (rows [][]float64, flat []float64) {
	flat = make([]float64, n*l)
	rows = make([][]float64, n)
	for i := range rows {
		rows[i] = flat[i*l : (i+1)*l : (i+1)*l]
	}
	return rows, flat
}

// Labels maps label names to their index in the spec's label order.
type Labels struct {
	names []string
	index map[string]int
}

// NewLabels checks the spec's label set: non-empty, no blanks or repeats.
func NewLabels(model string, names []string) (*Labels, error) {
	if len(names) == 0 {
		return nil, SpecError("model %q: no labels", model)
	}
	l := &Labels{names: names, index: make(map[string]int, len(names))}
	for i, n := range names {
		if n == "" {
			return nil, SpecError("model %q: empty label at %d", model, i)
		}
		if _, dup := l.index[n]; dup {
			return nil, SpecError("model %q: label %q twice", model, n)
		}
		l.index[n] = i
	}
	return l, nil
}

// Len is the number of labels.
func (l *Labels) Len() int { return len(l.names) }

// Fill sets row[index(label)] = score for one label an endpoint returned.
// An unknown label, a repeated one or a bad score is a bad response.
// seen tracks labels already set in this row, so it must start at zero
// for each row and have Len bits. label is bytes so that the lookup does
// not allocate.
func (l *Labels) Fill(row []float64, seen []bool, label []byte, score float64) error {
	j, ok := l.index[string(label)]
	if !ok {
		return BadResponse("unknown label %q", label)
	}
	if seen[j] {
		return BadResponse("label %q twice in one prediction", label)
	}
	seen[j] = true
	p, err := Prob(score)
	if err != nil {
		return err
	}
	row[j] = p
	return nil
}
