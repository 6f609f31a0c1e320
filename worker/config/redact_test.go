package config

import (
	"strings"
	"testing"
)

func TestRedacted(t *testing.T) {
	c := mustParse(t, baseYAML, nil)
	c.Models[0].URL = "https://user:hunter2@models.example.com/v1"
	c.Models[1].URL = "https://tok-abc123@models.example.com"
	c.Models[0].Auth = Auth{
		BearerTokenEnv: "NB_TOKEN",
		Headers:        map[string]string{"X-Client": "pasted-secret"},
	}
	out := c.Redacted()
	for _, secret := range []string{"hunter2", "tok-abc123", "pasted-secret", "user:"} {
		if strings.Contains(out, secret) {
			t.Errorf("Redacted output contains %q:\n%s", secret, out)
		}
	}
	// What helps an operator stays: variable and header names, durations
	// in their written form.
	for _, keep := range []string{"bearer_token_env: NB_TOKEN", "X-Client: REDACTED", "models.example.com", "timeout: 10s"} {
		if !strings.Contains(out, keep) {
			t.Errorf("Redacted output lacks %q:\n%s", keep, out)
		}
	}
	// The original is untouched.
	if c.Models[0].Auth.Headers["X-Client"] != "pasted-secret" || !strings.Contains(c.Models[0].URL, "hunter2") {
		t.Error("Redacted modified the config")
	}
}

func TestRedactedRoundTrips(t *testing.T) {
	c := mustParse(t, baseYAML, nil)
	again, err := Parse([]byte(c.Redacted()), nil)
	if err != nil {
		t.Fatalf("Redacted output does not parse: %v", err)
	}
	if again.Redacted() != c.Redacted() {
		t.Error("Redacted output does not round-trip")
	}
}
