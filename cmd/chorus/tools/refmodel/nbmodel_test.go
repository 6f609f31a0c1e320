package refmodel

import (
	"bytes"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	chorus "github.com/chorusml/chorus"
)

func amazon(t testing.TB) []byte {
	t.Helper()
	data, err := fs.ReadFile(chorus.Data, SentimentFile)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestSentimentNB(t *testing.T) {
	m, err := NewSentimentNB(bytes.NewReader(amazon(t)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != NameSentimentNB || m.MultiLabel() || !slices.Equal(m.Labels(), []string{LabelNegative, LabelPositive}) {
		t.Fatalf("got %s multi=%v labels %v", m.Name(), m.MultiLabel(), m.Labels())
	}
	tests := []struct {
		text     string
		positive bool
	}{
		{"Great phone, excellent sound quality.", true},
		{"I love this headset, works perfectly.", true},
		{"Terrible. It broke after one day.", false},
		{"Do not buy this, waste of money.", false},
		{"This is not good at all.", false},
	}
	texts := make([]string, len(tests))
	for i, tt := range tests {
		texts[i] = tt.text
	}
	for i, p := range m.Predict(texts) {
		if len(p) != 2 || math.Abs(p[0]+p[1]-1) > 1e-12 || p[0] < 0 || p[1] < 0 {
			t.Errorf("%q: scores %v, want a distribution over 2 labels", tests[i].text, p)
		}
		if got := p[1] > p[0]; got != tests[i].positive {
			t.Errorf("%q: P = %v, want positive %v", tests[i].text, p, tests[i].positive)
		}
	}
}

func TestTopicsModels(t *testing.T) {
	tests := []struct {
		name   string
		newFn  func([]byte) (*NB, error)
		file   string
		labels []string
		text   string
		want   []string // labels scoring ≥ 0.5 for text
	}{
		{NameTopics, func(b []byte) (*NB, error) { return NewTopics(bytes.NewReader(b)) }, "topics.tsv", TopicLabels(),
			"I was charged twice and support never replied", []string{"support", "billing"}},
		{NameAcmeTopics, func(b []byte) (*NB, error) { return NewAcmeTopics(bytes.NewReader(b)) }, "acme-topics.tsv", AcmeTopicLabels(),
			"The Android app crashes on my phone", []string{"mobile-app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.newFn(fixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if m.Name() != tt.name || !m.MultiLabel() || !slices.Equal(m.Labels(), tt.labels) {
				t.Fatalf("got %s multi=%v labels %v", m.Name(), m.MultiLabel(), m.Labels())
			}
			p := m.Predict([]string{tt.text, ""})
			var got []string
			for j, l := range tt.labels {
				if p[0][j] >= 0.5 {
					got = append(got, l)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%q: labels %v (scores %v), want %v", tt.text, got, p[0], tt.want)
			}
			// Independent per-label probabilities: the empty text scores
			// each label at its prior, and they need not sum to 1.
			for j, x := range p[1] {
				if x <= 0 || x >= 0.5 {
					t.Errorf("empty text: %s = %v, want its prior, in (0, 0.5)", tt.labels[j], x)
				}
			}
		})
	}
}

func TestTopicsRejectsBadFile(t *testing.T) {
	_, err := NewTopics(strings.NewReader("pricing\ttoo dear\nsupprot\tno answer\n"))
	if err == nil || !strings.Contains(err.Error(), `"supprot"`) || !strings.Contains(err.Error(), NameTopics) {
		t.Errorf("error = %v, want one naming the model and the bad label", err)
	}
	// Every label needs positive examples, or its prior odds are infinite.
	_, err = NewAcmeTopics(strings.NewReader("integrations\tslack\nnone\tfine\n"))
	if err == nil || !strings.Contains(err.Error(), `"mobile-app"`) {
		t.Errorf("error = %v, want one naming the label without examples", err)
	}
}

func TestVersions(t *testing.T) {
	data := amazon(t)
	a, err := NewSentimentNB(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSentimentNB(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	edited := append(slices.Clip(data), "Another line.\t1\n"...)
	c, err := NewSentimentNB(bytes.NewReader(edited))
	if err != nil {
		t.Fatal(err)
	}
	if a.Version() != b.Version() || a.Version() == c.Version() || len(a.Version()) != 12 {
		t.Errorf("versions %q, %q (same data), %q (edited): want 12 hex digits, equal for equal data only", a.Version(), b.Version(), c.Version())
	}
	if v1, v2 := NewVader().Version(), NewVader().Version(); v1 != v2 || len(v1) != 12 {
		t.Errorf("vader versions %q, %q: want equal, 12 hex digits", v1, v2)
	}
}
