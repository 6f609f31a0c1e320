package config

// EnvOverride is an environment variable that, when set and non-empty,
// replaces one config value after the file is parsed and before defaults
// and validation. The set is small and fixed: values that differ per
// deployment or are secret, so that one file serves every environment.
type EnvOverride struct {
	Var  string // e.g. "CHORUS_SINK_FILE_PATH"
	Path string // the field it replaces, e.g. "sink.file.path"
	set  func(c *Config, value string)
}

// EnvOverrides lists the supported overrides, for documentation and
// `chorus config validate`. Validation errors print an overridden value
// like any other, so a future secret (a DSN) must be checked without
// quoting it.
func EnvOverrides() []EnvOverride {
	return []EnvOverride{
		{"CHORUS_SOURCE_FILE_PATH", "source.file.path", func(c *Config, v string) { c.Source.File.Path = v }},
		{"CHORUS_SINK_FILE_PATH", "sink.file.path", func(c *Config, v string) { c.Sink.File.Path = v }},
		{"CHORUS_METRICS_ADDR", "metrics.addr", func(c *Config, v string) { c.Metrics.Addr = v }},
		{"CHORUS_LOG_LEVEL", "log.level", func(c *Config, v string) { c.Log.Level = v }},
		{"CHORUS_LOG_FORMAT", "log.format", func(c *Config, v string) { c.Log.Format = v }},
	}
}

// applyEnv applies the overrides and returns field path → variable for
// those applied, so that errors about them name the variable, not a line.
func (c *Config) applyEnv(getenv func(string) string) map[string]string {
	applied := map[string]string{}
	for _, o := range EnvOverrides() {
		if v := getenv(o.Var); v != "" {
			o.set(c, v)
			applied[o.Path] = o.Var
		}
	}
	return applied
}
