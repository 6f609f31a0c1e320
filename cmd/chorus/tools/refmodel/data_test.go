package refmodel

import (
	"io/fs"
	"reflect"
	"strings"
	"testing"

	chorus "github.com/chorusml/chorus"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel/nb"
)

func TestReadSentiment(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []nb.Doc
		wantErr string
	}{
		{"labels", "Great.\t1\nAwful.\t0\n", []nb.Doc{{Text: "Great.", Labels: []string{LabelPositive}}, {Text: "Awful."}}, ""},
		{"CRLF and blank lines", "Great.\t1\r\n\r\n\nAwful.\t0", []nb.Doc{{Text: "Great.", Labels: []string{LabelPositive}}, {Text: "Awful."}}, ""},
		{"a leading # is text, not a comment", "#1 phone\t1\n", []nb.Doc{{Text: "#1 phone", Labels: []string{LabelPositive}}}, ""},
		{"tab inside the sentence", "a\tb\t0\n", []nb.Doc{{Text: "a\tb"}}, ""},
		{"no tab", "Great.\n", nil, "line 1: no TAB"},
		{"bad label", "ok\t1\nGreat.\t2\n", nil, `line 2: label "2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadSentiment([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ReadSentiment = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestReadTopics(t *testing.T) {
	labels := []string{"a", "b"}
	tests := []struct {
		name    string
		in      string
		want    []nb.Doc
		wantErr string
	}{
		{"one, two and none", "a\tfirst\nb, a\tsecond\nnone\tthird\n",
			[]nb.Doc{{Text: "first", Labels: []string{"a"}}, {Text: "second", Labels: []string{"b", "a"}}, {Text: "third"}}, ""},
		{"text keeps its tabs", "a\tx\ty\n", []nb.Doc{{Text: "x\ty", Labels: []string{"a"}}}, ""},
		{"unknown label", "a\tok\nc\tbad\n", nil, `line 2: label "c"`},
		{"none with a label", "none,a\tbad\n", nil, `label "none"`},
		{"empty label", "a,\tbad\n", nil, `label ""`},
		{"no tab", "a first\n", nil, "no TAB"},
		{"empty text", "a\t  \n", nil, "empty text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadTopics([]byte(tt.in), labels)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ReadTopics = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	data, err := fs.ReadFile(chorus.Data, SentimentFile)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := ReadSentiment(data)
	if err != nil {
		t.Fatal(err)
	}
	train, test := Split(docs)
	if len(train)+len(test) != len(docs) || len(docs) != 1000 {
		t.Fatalf("split %d + %d of %d docs, want 1000 in all", len(train), len(test), len(docs))
	}
	// Deterministic data, so the exact count is a fixed property; the range
	// says what matters: about a fifth.
	if frac := float64(len(test)) / float64(len(docs)); frac < 0.15 || frac > 0.25 {
		t.Errorf("test split is %.2f of the docs, want about 0.2", frac)
	}
	inTrain := map[string]bool{}
	for _, d := range train {
		inTrain[d.Text] = true
	}
	for _, d := range test {
		if inTrain[d.Text] {
			t.Errorf("%q is in both splits", d.Text)
		}
	}
	// FNV-1a's published test vector pins the hash, and so the split.
	if got := TextHash("a"); got != 0xaf63dc4c8601ec8c {
		t.Errorf("TextHash(a) = %#x, want FNV-1a 0xaf63dc4c8601ec8c", got)
	}
}
