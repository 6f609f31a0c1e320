package config

import (
	"strings"
	"testing"
)

func TestEnvOverrides(t *testing.T) {
	yaml := strings.Replace(baseYAML, "  type: memory\n", "  type: file\n  file: {path: in.jsonl}\n", 1)
	c := mustParse(t, yaml, env(map[string]string{
		"CHORUS_SOURCE_FILE_PATH": "/data/jobs.jsonl",
		"CHORUS_SINK_FILE_PATH":   "/data/results.jsonl",
		"CHORUS_METRICS_ADDR":     ":9464",
		"CHORUS_LOG_LEVEL":        "debug",
		"CHORUS_LOG_FORMAT":       "json",
	}))
	tests := []struct{ path, got, want string }{
		{"source.file.path", c.Source.File.Path, "/data/jobs.jsonl"},
		// Overrides come before defaults, so derived values follow them.
		{"source.file.dead_letter_path", c.Source.File.DeadLetterPath, "/data/jobs.jsonl.deadletter.jsonl"},
		{"sink.file.path", c.Sink.File.Path, "/data/results.jsonl"},
		{"metrics.addr", c.Metrics.Addr, ":9464"},
		{"log.level", c.Log.Level, "debug"},
		{"log.format", c.Log.Format, "json"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.path, tt.got, tt.want)
		}
	}
}

func TestEnvOverrideEmptyKeepsFile(t *testing.T) {
	c := mustParse(t, baseYAML, env(map[string]string{"CHORUS_SINK_FILE_PATH": ""}))
	if c.Sink.File.Path != "out.jsonl" {
		t.Errorf("sink.file.path: got %q, want the file's value", c.Sink.File.Path)
	}
}

// An overridden value that fails validation must point at the variable:
// the line in the file holds a value that is not in use.
func TestEnvOverrideErrorNamesVariable(t *testing.T) {
	_, err := Parse([]byte(baseYAML), env(map[string]string{"CHORUS_LOG_LEVEL": "loud"}))
	const want = `log.level: got "loud", expected one of debug, info, warn, error (from $CHORUS_LOG_LEVEL)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestEnvOverridesDocumented(t *testing.T) {
	for _, o := range EnvOverrides() {
		if !strings.HasPrefix(o.Var, "CHORUS_") || o.Path == "" || o.set == nil {
			t.Errorf("malformed override %+v", o)
		}
	}
}
