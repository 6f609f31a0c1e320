package refmodel

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strings"

	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel/nb"
)

// Training files, as paths in chorus.Data.
const (
	SentimentFile  = "testdata/models/amazon_cells_labelled.txt"
	TopicsFile     = "testdata/models/topics.tsv"
	AcmeTopicsFile = "testdata/models/acme-topics.tsv"
)

// Sentiment labels. Sentiment docs carry LabelPositive or no label.
const (
	LabelNegative = "negative"
	LabelNeutral  = "neutral"
	LabelPositive = "positive"
)

// noneLabel marks a topics line that is a negative example for every label.
const noneLabel = "none"

// ReadSentiment parses "SENTENCE<TAB>0|1" lines (1 = positive) into docs
// labelled LabelPositive or nothing.
func ReadSentiment(data []byte) ([]nb.Doc, error) {
	var docs []nb.Doc
	err := eachLine(data, func(n int, line string) error {
		// The sentence may hold tabs in principle; the label never does.
		i := strings.LastIndexByte(line, '\t')
		if i < 0 {
			return fmt.Errorf("line %d: no TAB between sentence and label", n)
		}
		text, label := line[:i], line[i+1:]
		switch label {
		case "1":
			docs = append(docs, nb.Doc{Text: text, Labels: []string{LabelPositive}})
		case "0":
			docs = append(docs, nb.Doc{Text: text})
		default:
			return fmt.Errorf("line %d: label %q: want 0 or 1", n, label)
		}
		return nil
	})
	return docs, err
}

// ReadTopics parses "LABEL[,LABEL…]<TAB>TEXT" lines. Every label must be in
// labels, or be "none" alone (a negative example for all of them), so a
// typo in the file fails loudly instead of training a label nobody serves.
func ReadTopics(data []byte, labels []string) ([]nb.Doc, error) {
	var docs []nb.Doc
	err := eachLine(data, func(n int, line string) error {
		head, text, ok := strings.Cut(line, "\t")
		if !ok {
			return fmt.Errorf("line %d: no TAB between labels and text", n)
		}
		if strings.TrimSpace(text) == "" {
			return fmt.Errorf("line %d: empty text", n)
		}
		doc := nb.Doc{Text: text}
		if strings.TrimSpace(head) != noneLabel {
			for l := range strings.SplitSeq(head, ",") {
				l = strings.TrimSpace(l)
				if !slices.Contains(labels, l) {
					return fmt.Errorf("line %d: label %q: want one of %v or %q", n, l, labels, noneLabel)
				}
				doc.Labels = append(doc.Labels, l)
			}
		}
		docs = append(docs, doc)
		return nil
	})
	return docs, err
}

// eachLine calls f with each non-blank line (numbered from 1), without its
// line ending. There is no comment syntax: a real review starts with "#".
func eachLine(data []byte, f func(n int, line string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if err := f(n, line); err != nil {
			return err
		}
	}
	return sc.Err()
}

// TextHash is FNV-1a (64-bit) of text. The held-out split and evaluation's
// cross-validation folds derive from it, so they are fixed by the data
// alone and identical sentences always land on the same side.
func TextHash(text string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, text)
	return h.Sum64()
}

// IsHeldOut reports whether text belongs to the held-out test split (about
// one in five texts).
func IsHeldOut(text string) bool { return TextHash(text)%5 == 0 }

// Split divides docs into the train and held-out test splits by IsHeldOut.
// Served models train on all docs; evaluation trains on train and reports
// on test.
func Split(docs []nb.Doc) (train, test []nb.Doc) {
	for _, d := range docs {
		if IsHeldOut(d.Text) {
			test = append(test, d)
		} else {
			train = append(train, d)
		}
	}
	return train, test
}

// version is the first 12 hex digits of sha256(data + revision): stable
// across restarts, and changed by a change of training data or model code.
func version(data []byte, revision string) string {
	h := sha256.New()
	h.Write(data)
	io.WriteString(h, revision)
	return hex.EncodeToString(h.Sum(nil))[:12]
}
