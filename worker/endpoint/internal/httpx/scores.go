package httpx

import (
	"math"
	"strings"
	"sync"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/jsonscan"
	"github.com/chorusml/chorus/worker/errkind"
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
	model  string
	names  []string
	index  map[string]int
	strict bool
	warn   func(string)
	once   sync.Once
}

// NewLabels checks the spec's label set: non-empty, no blanks or repeats,
// each within endpoint.MaxLabelBytes.
func NewLabels(spec endpoint.Spec) (*Labels, error) {
	model, names := spec.Name, spec.Labels
	if len(names) == 0 {
		return nil, SpecError("model %q: no labels", model)
	}
	l := &Labels{model: model, names: names, index: make(map[string]int, len(names)), strict: spec.StrictLabels, warn: spec.Warn}
	for i, n := range names {
		if n == "" {
			return nil, SpecError("model %q: empty label at %d", model, i)
		}
		if len(n) > endpoint.MaxLabelBytes {
			return nil, SpecError("model %q: label %d is over %d bytes", model, i, endpoint.MaxLabelBytes)
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

// Names is the configured label set, in order.
func (l *Labels) Names() []string { return l.names }

// Index returns label's position, or -1. label is bytes so that the
// lookup does not allocate.
func (l *Labels) Index(label []byte) int {
	if j, ok := l.index[string(label)]; ok {
		return j
	}
	return -1
}

// Matcher fills one response's rows by label name and remembers what it
// saw, so that a response whose labels are none of the configured ones is
// a misconfiguration, never a batch of zero rows.
type Matcher struct {
	l        *Labels
	seen     []bool
	row      []float64
	returned int // labels the server returned
	matched  int // of those, configured ones
	unknown  []string
}

// Matcher starts matching one response.
func (l *Labels) Matcher() *Matcher {
	return &Matcher{l: l, seen: make([]bool, len(l.names))}
}

// Row starts the next prediction's row.
func (m *Matcher) Row(row []float64) {
	m.row = row
	clear(m.seen)
}

// Set records one label and score the server returned for the current
// row. A repeated label or a bad score is a bad response; an unknown label
// is an error only for a strict spec, and otherwise dropped.
func (m *Matcher) Set(label []byte, score float64) error {
	m.returned++
	j, ok := m.l.index[string(label)]
	if !ok {
		if m.l.strict {
			return Misconfigured(endpoint.ReasonIncompatible, "model %q: server returned label %q, which is not in the configured labels (%s) and strict_labels is set", m.l.model, truncate(string(label)), m.l.list())
		}
		if len(m.unknown) < 8 {
			m.unknown = append(m.unknown, truncate(string(label)))
		}
		return nil
	}
	if m.seen[j] {
		return BadResponse("label %q twice in one prediction", label)
	}
	m.seen[j] = true
	p, err := Prob(score)
	if err != nil {
		return err
	}
	m.row[j] = p
	m.matched++
	return nil
}

// Done ends the response: an error when the server returned labels and not
// one of them is configured. Dropped labels are reported once per client.
func (m *Matcher) Done() error {
	if m.returned > 0 && m.matched == 0 {
		return Misconfigured(endpoint.ReasonIncompatible, "model %q: none of the server's labels (%s) is a configured label (%s): set labels to the server's label names", m.l.model, strings.Join(m.unknown, ", "), m.l.list())
	}
	if len(m.unknown) > 0 && m.l.warn != nil {
		m.l.once.Do(func() {
			m.l.warn("server scores labels that are not configured; they are dropped (set strict_labels to refuse them): " + strings.Join(m.unknown, ", "))
		})
	}
	return nil
}

func (l *Labels) list() string {
	const most = 8
	if len(l.names) <= most {
		return strings.Join(l.names, ", ")
	}
	return strings.Join(l.names[:most], ", ") + ", …"
}

// IsMisconfigured reports whether err is a Misconfigured error.
func IsMisconfigured(err error) bool { return errkind.KindOf(err) == errkind.Misconfigured }

// ReadLabelScore reads one {"label": ..., "score": ...} object, the shape
// TEI and the Hugging Face toolkit behind SageMaker both answer with; the
// label comes unescaped and the caller maps it.
func ReadLabelScore(s *jsonscan.Scanner) (label []byte, score float64, err error) {
	if !s.Object() {
		return nil, 0, BadResponse("not an object: %q", s.Snippet(32))
	}
	var hasLabel, hasScore bool
	for {
		k, more := s.Key()
		if !more {
			break
		}
		switch string(k) {
		case "label":
			var escaped bool
			label, escaped, hasLabel = s.RawString()
			if escaped {
				label = []byte(jsonscan.Unescape(label))
			}
		case "score":
			score, hasScore = s.Number()
		}
		s.Skip()
	}
	if !hasLabel || !hasScore {
		return nil, 0, BadResponse("want a string label and a number score")
	}
	return label, score, nil
}
