package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"

	"go.yaml.in/yaml/v3"
)

// redactedValue replaces values that may be secret.
const redactedValue = "REDACTED"

// Redacted returns the config as YAML that is safe to log: auth.headers
// values are replaced (the field is documented as non-secret, but a
// mistake there should not reach the logs) and user info in URLs is
// masked. Env-sourced secrets never enter a Config, only their variables'
// names do, so there is nothing else to hide.
func (c *Config) Redacted() string {
	cp := *c
	cp.Models = slices.Clone(c.Models)
	for i := range cp.Models {
		m := &cp.Models[i]
		if len(m.Auth.Headers) > 0 {
			m.Auth.Headers = maps.Clone(m.Auth.Headers)
			for k := range m.Auth.Headers {
				m.Auth.Headers[k] = redactedValue
			}
		}
		// The whole userinfo goes: a token is often passed as the user name.
		if u, err := url.Parse(m.URL); err == nil && u.User != nil {
			u.User = url.User(redactedValue)
			m.URL = u.String()
		}
	}
	out, err := yaml.Marshal(&cp)
	if err != nil {
		return fmt.Sprintf("<config: %v>", err)
	}
	return string(out)
}
