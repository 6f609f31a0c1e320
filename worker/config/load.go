package config

import (
	"fmt"
	"os"
	"strings"
)

// Load reads the config file at path and parses it with Parse.
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	c, err := Parse(data, getenv)
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a YAML config strictly, applies the EnvOverrides, then the
// defaults (ApplyDefaults), then validates it, including that the variables
// that auth settings name are set. getenv is usually os.Getenv; nil means
// an empty environment.
//
// Durations are Go duration strings ("5ms", "30s"). Fields whose name ends
// in _bytes take a plain integer or a size with a unit ("64MiB", "1MB").
//
// A decoding or validation failure returns an Errors listing every problem
// found, each a *FieldError with its field path and YAML line (or the
// environment variable that set the value). A YAML syntax error stops
// decoding and is returned alone.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var c Config
	lines, err := decode(data, &c, maxNodes)
	if err != nil {
		return nil, err
	}
	fromEnv := c.applyEnv(getenv)
	c.ApplyDefaults()
	if err := c.validate(getenv); err != nil {
		for _, e := range asErrors(err) {
			locate(e, lines, fromEnv)
		}
		return nil, err
	}
	return &c, nil
}

// locate sets where a validation error's value came from. A field missing
// from the file gets its nearest parent's line: that is where to add it.
func locate(e *FieldError, lines map[string]int, fromEnv map[string]string) {
	if v, ok := fromEnv[e.Path]; ok {
		e.Env = v
		return
	}
	for p := e.Path; p != ""; p = parent(p) {
		if l, ok := lines[p]; ok {
			e.Line = l
			return
		}
	}
}

// parent strips a path's last element: "a.b[2]" → "a.b" → "a" → "".
func parent(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}
