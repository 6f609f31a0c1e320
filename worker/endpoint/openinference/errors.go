package openinference

import (
	"errors"
	"regexp"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/errkind"
)

// mismatch is a server message that says the request's form and the model
// disagree: the same for every batch, so a config error rather than one
// bad text to bisect or a fault to retry.
type mismatch struct {
	re  *regexp.Regexp
	fix string // what to set
	// internal: Triton answers it 500, since the errors of its JSON
	// helpers are coded INTERNAL; 400 before 2.42.
	internal bool
}

// mismatches are Triton's own words (its core's request validation and
// its HTTP frontend's JSON reading), kept in the fixtures and WIRE.md with
// their origin. They are matched anywhere in the message: Triton puts
// "[request id: <id>] " before some of them.
var mismatches = []mismatch{
	{regexp.MustCompile(`unexpected inference input '`), "set open_inference.input.name to one of the model's inputs", false},
	// KServe's runtimes write it with a capital U.
	{regexp.MustCompile(`(?i)unexpected inference output '`), "set open_inference.output.name to one of the model's outputs", false},
	{regexp.MustCompile(`inference input '[^']*' data-type is '[^']*', but model '[^']*' expects '`), "the input must be a BYTES tensor: set open_inference.input.name to the model's text input", false},
	{regexp.MustCompile(`unexpected shape for input '`), "set open_inference.input.shape to the model's form ([N] or [N,1])", false},
	{regexp.MustCompile(`expected \d+ inputs but got \d+ inputs for model '`), "the model takes more than the one text input Chorus sends", false},
	{regexp.MustCompile(`failed to get model version from specified version string`), "Triton numbers versions: set version to a version number, or leave it empty", false},
	// The JSON data does not fit the datatype it is read as. Chorus
	// always sends strings, so every batch gets the same answer.
	{regexp.MustCompile(`attempt to access JSON non-[a-z-]+ as `), "the input must be a BYTES tensor of strings: set open_inference.input.name to the model's text input", true},
}

// Triton before 2.42 answered every error 400; these words say what the
// later statuses (404, 503) say. "Request for unknown model" also begins
// the not-ready message, which is why notReady is tried first.
var (
	notReady     = regexp.MustCompile(`is not at ready state|[Mm]odel version not ready|is not ready|Exceeds maximum queue size`)
	unknownModel = regexp.MustCompile(`Request for unknown model ?:`)
)

// statusByWords reclassifies a 400 whose words carry the status an older
// server did not: an unknown model is a misconfiguration, a model still
// loading or a full queue is worth a retry (and not a text to bisect).
func statusByWords(err error) error {
	var e *errkind.Error
	if !errors.As(err, &e) || e.Reason != endpoint.ReasonBadRequest {
		return err
	}
	switch msg := e.Err.Error(); {
	case notReady.MatchString(msg):
		return &errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonServerError, Err: e.Err}
	case unknownModel.MatchString(msg):
		return &errkind.Error{Kind: errkind.Misconfigured, Reason: endpoint.ReasonNotFound, Err: e.Err}
	}
	return err
}

// classify turns an answer that names a mismatch of the request's form
// into a misconfiguration; other errors pass unchanged. p is nil for the
// metadata request.
func (c *Client) classify(err error, p *plan) error {
	err = statusByWords(err)
	var e *errkind.Error
	if !errors.As(err, &e) {
		return err
	}
	msg := e.Err.Error()
	for _, m := range mismatches {
		status := e.Reason == endpoint.ReasonBadRequest || (m.internal && e.Reason == endpoint.ReasonServerError)
		if !status || !m.re.MatchString(msg) {
			continue
		}
		if p == nil { // the metadata request
			return httpx.Misconfigured(endpoint.ReasonIncompatible, "the server refuses the request: %s; %s", msg, m.fix)
		}
		return httpx.Misconfigured(endpoint.ReasonIncompatible, "model %q: the server refuses the request's form (input %q %s, output %q): %s; %s",
			c.model, p.input, p.shape, p.output, msg, m.fix)
	}
	return err
}
