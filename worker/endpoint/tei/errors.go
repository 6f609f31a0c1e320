package tei

import (
	"errors"
	"strings"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/errkind"
)

// TEI's own words (core/src/lib.rs, core/src/infer.rs), which its error
// bodies carry in "error".
const (
	// perInputValidation prefixes every validation error of one input,
	// such as "`inputs` must have less than 512 tokens. Given: 600".
	perInputValidation = "Input validation error"
	// perInputTokenizer prefixes a tokenizer's failure on one input.
	perInputTokenizer = "tokenizer error"
	// notClassifier is /predict's answer (424) from a server whose model
	// is an embedding model.
	notClassifier = "Model is not a classifier model"
)

// classify corrects httpx's reading of a TEI error where TEI's status
// alone misleads.
//
// TEI before 1.9 answered every validation error 413, which httpx reads
// as a batch too large: a text over the token limit would shrink the
// batch size for good on its way to failing alone. Such a message (and
// a tokenizer error) is about one input, so it is a bad request, which the
// call layer bisects; the batch-size message itself names its limit and
// stays batch_too_large.
//
// /predict to an embedding model answers 424, which is retryable for a
// model that failed on a batch, but this one fails on every batch.
func (c *Client) classify(err error) error {
	var e *errkind.Error
	if !errors.As(err, &e) || e.Err == nil {
		return err
	}
	msg := e.Err.Error()
	switch e.Reason {
	case endpoint.ReasonBatchTooLarge:
		if _, ok := endpoint.BatchLimit(err); !ok && (strings.Contains(msg, perInputValidation) || strings.Contains(msg, perInputTokenizer)) {
			return &errkind.Error{Kind: errkind.Permanent, Reason: endpoint.ReasonBadRequest, Err: e.Err}
		}
	case endpoint.ReasonInferenceFail:
		if strings.Contains(msg, notClassifier) {
			return httpx.Misconfigured(endpoint.ReasonIncompatible,
				"model %q: %w: the server serves an embedding model; point url at a TEI serving a sequence-classification model", c.spec.Name, e.Err)
		}
	}
	return err
}
