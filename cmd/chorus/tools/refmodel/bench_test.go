package refmodel

import (
	"errors"
	"io/fs"
	"testing"

	chorus "github.com/chorusml/chorus"
)

// BenchmarkLoadAll is start-up cost: building all four models from the
// shipped files, training included. The worker's start-up target is 100 ms
// for everything.
func BenchmarkLoadAll(b *testing.B) {
	fsys := fs.FS(chorus.Data)
	if _, err := LoadAll(fsys); errors.Is(err, fs.ErrNotExist) {
		b.Logf("training files not all in chorus.Data yet (%v): using the fixtures", err)
		fsys = fixtureFS(b)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadAll(fsys); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPredict scores a batch of 64 review-length texts per op.
func BenchmarkPredict(b *testing.B) {
	models, err := LoadAll(fixtureFS(b))
	if err != nil {
		b.Fatal(err)
	}
	texts := make([]string, 64)
	for i := range texts {
		texts[i] = []string{
			"I don't think this phone is worth it: the battery died after two days.",
			"Support answered quickly and the app is fast and easy to use, great value.",
			"Billing charged me twice and the Slack integration keeps failing on mobile.",
		}[i%3]
	}
	for _, m := range models {
		b.Run(m.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Predict(texts)
			}
		})
	}
}

// BenchmarkNewVader is the part of BenchmarkLoadAll spent loading VADER's
// lexicon (govader decompresses and parses it).
func BenchmarkNewVader(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewVader()
	}
}
