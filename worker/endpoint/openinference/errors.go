package openinference

import (
	"errors"
	"regexp"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/errkind"
)

// mismatch is a server message, answered with HTTP 400, that says the
// request's form and the model disagree: the same for every batch, so a
// config error rather than one bad text to bisect.
type mismatch struct {
	re  *regexp.Regexp
	fix string // what to set
}

// mismatches are Triton's own words (its core's request validation),
// kept in the fixtures and WIRE.md with their origin.
var mismatches = []mismatch{
	{regexp.MustCompile(`unexpected inference input '`), "set open_inference.input.name to one of the model's inputs"},
	{regexp.MustCompile(`unexpected inference output '`), "set open_inference.output.name to one of the model's outputs"},
	{regexp.MustCompile(`inference input '[^']*' data-type is '[^']*', but model '[^']*' expects '`), "the input must be a BYTES tensor: set open_inference.input.name to the model's text input"},
	{regexp.MustCompile(`unexpected shape for input '`), "set open_inference.input.shape to the model's form ([N] or [N,1])"},
	{regexp.MustCompile(`expected \d+ inputs but got \d+ inputs for model '`), "the model takes more than the one text input Chorus sends"},
}

// Triton before 2.42 answered every error 400; these words say what the
// later statuses (404, 503) say.
var (
	unknownModel = regexp.MustCompile(`Request for unknown model: '[^']*'(?: version \d+)? is not found`)
	notReady     = regexp.MustCompile(`is not at ready state|[Mm]odel version not ready|is not ready`)
)

// statusByWords reclassifies a 400 whose words carry the status an older
// server did not: an unknown model is a misconfiguration, a model still
// loading is worth a retry (and not a text to bisect).
func statusByWords(err error) error {
	var e *errkind.Error
	if !errors.As(err, &e) || e.Reason != endpoint.ReasonBadRequest {
		return err
	}
	switch msg := e.Err.Error(); {
	case unknownModel.MatchString(msg):
		return &errkind.Error{Kind: errkind.Misconfigured, Reason: endpoint.ReasonNotFound, Err: e.Err}
	case notReady.MatchString(msg):
		return &errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonServerError, Err: e.Err}
	}
	return err
}

// classify turns a 400 that names a tensor mismatch into a
// misconfiguration; other errors pass unchanged.
func (c *Client) classify(err error, p *plan) error {
	err = statusByWords(err)
	var e *errkind.Error
	if !errors.As(err, &e) || e.Reason != endpoint.ReasonBadRequest {
		return err
	}
	msg := e.Err.Error()
	for _, m := range mismatches {
		if m.re.MatchString(msg) {
			return httpx.Misconfigured(endpoint.ReasonIncompatible, "model %q: the server refuses the request's form (input %q %s, output %q): %s; %s",
				c.model, p.input, p.shape, p.output, msg, m.fix)
		}
	}
	return err
}
