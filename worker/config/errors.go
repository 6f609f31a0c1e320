package config

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is one problem with one field. Err says what was expected and
// never holds a secret (env var names are printed, their values never).
type FieldError struct {
	// Path is the field path, e.g. "models[2].batch.max_items"; empty for
	// the document itself.
	Path string
	// Line is where the field (or, when it is missing, its nearest parent)
	// is in the YAML file; 0 when unknown.
	Line int
	// Env names the environment override that set the value, if one did:
	// a line number would point at a value that is not the one in use.
	Env string
	Err error
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	switch {
	case e.Env != "":
		fmt.Fprintf(&b, " (from $%s)", e.Env)
	case e.Line > 0:
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Errors is every problem found in one pass, so that one run of `chorus
// config validate` shows all of them: decoding problems in file order,
// validation problems section by section.
type Errors []*FieldError

func (es Errors) Error() string {
	if len(es) == 1 {
		return es[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems:", len(es))
	for _, e := range es {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.Is and errors.As see each problem.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// errs collects FieldErrors.
type errs struct{ list Errors }

func (c *errs) add(path string, err error) {
	c.list = append(c.list, &FieldError{Path: path, Err: err})
}

func (c *errs) addf(path, format string, args ...any) {
	c.add(path, fmt.Errorf(format, args...))
}

// err returns nil, not a nil Errors, when there is nothing to report: a
// typed nil in an error interface is not == nil.
func (c *errs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return c.list
}

// asErrors returns err's problem list, or nil if it is not one.
func asErrors(err error) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	return nil
}
