package wiring

import (
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/worker/config"
)

// The config leaves sink.postgres's defaults to the driver; these are the
// values README and full-reference.yaml document.
func TestPostgresOptions(t *testing.T) {
	const base = `
source: {type: memory}
models:
  - name: sentiment
    protocol: open-inference
    url: http://model:8080
    labels: [negative, positive]
pipelines:
  - name: default
    version: "1"
    sentiment: {models: [{model: sentiment}]}
tenants: [{name: "*", pipeline: default}]
`
	env := map[string]string{"CHORUS_POSTGRES_DSN": "postgres://db/feedback", "PG": "postgres://other/db"}
	tests := []struct {
		name string
		sink string
		want pgsink.Options
	}{
		{"defaults", `sink: {type: postgres}`,
			pgsink.Options{DSN: "postgres://db/feedback", Schema: "public", Table: "chorus_results", MaxConns: 4, StatementTimeout: 30 * time.Second}},
		{"set", `sink: {type: postgres, postgres: {dsn_env: PG, schema: s, table: t, max_conns: 2, statement_timeout: 1s}}`,
			pgsink.Options{DSN: "postgres://other/db", Schema: "s", Table: "t", MaxConns: 2, StatementTimeout: time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return env[k] }
			cfg, err := config.Parse([]byte(base+tc.sink+"\n"), getenv)
			if err != nil {
				t.Fatal(err)
			}
			if got := postgresOptions(cfg, getenv); got != tc.want {
				t.Errorf("postgresOptions = %+v, want %+v", got, tc.want)
			}
		})
	}
}
