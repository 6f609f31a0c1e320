package refmodel

import (
	"bytes"
	"fmt"
	"io/fs"
)

// LoadAll builds the four reference models from fsys (chorus.Data, or any
// FS with the training files at SentimentFile, TopicsFile and
// AcmeTopicsFile): sentiment-vader, sentiment-nb, topics, acme-topics, in
// that order. The NB models train on all of their file's lines.
func LoadAll(fsys fs.FS) ([]Model, error) {
	models := []Model{NewVader()}
	for _, l := range []struct {
		file  string
		train func(data []byte) (*NB, error)
	}{
		{SentimentFile, func(b []byte) (*NB, error) { return NewSentimentNB(bytes.NewReader(b)) }},
		{TopicsFile, func(b []byte) (*NB, error) { return NewTopics(bytes.NewReader(b)) }},
		{AcmeTopicsFile, func(b []byte) (*NB, error) { return NewAcmeTopics(bytes.NewReader(b)) }},
	} {
		data, err := fs.ReadFile(fsys, l.file)
		if err != nil {
			return nil, fmt.Errorf("refmodel: %w", err)
		}
		m, err := l.train(data)
		if err != nil {
			return nil, fmt.Errorf("refmodel: %s: %w", l.file, err)
		}
		models = append(models, m)
	}
	return models, nil
}
