package wiring

import (
	"context"
	"fmt"

	"github.com/chorusml/chorus/sinks/bqsink"
	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/worker/config"
)

// Migrate creates or upgrades the configured sink's schema and returns what
// it did, one line each. Running it again is a no-op.
func Migrate(ctx context.Context, cfg *config.Config, getenv func(string) string) ([]string, error) {
	switch cfg.Sink.Type {
	case "postgres":
		pg := postgresOptions(cfg, getenv)
		applied, err := pgsink.MigrateDSN(ctx, pg.DSN, pg.Schema, pg.Table)
		if err != nil {
			return nil, fmt.Errorf("sink.postgres: %w", err)
		}
		if len(applied) == 0 {
			return []string{fmt.Sprintf("postgres %s.%s: up to date", pg.Schema, pg.Table)}, nil
		}
		out := make([]string, len(applied))
		for i, a := range applied {
			out[i] = fmt.Sprintf("postgres %s.%s: applied %s", pg.Schema, pg.Table, a)
		}
		return out, nil
	case "bigquery":
		o := BigQueryOptions(cfg)
		if err := bqsink.Migrate(ctx, o); err != nil {
			return nil, fmt.Errorf("sink.bigquery: %w", err)
		}
		return []string{fmt.Sprintf("bigquery %s.%s.%s: dataset and table present (partitioned by day of scored_at, clustered by tenant, primary key for CDC upserts)", o.Project, o.Dataset, o.Table)}, nil
	case "file":
		return []string{"file sink: nothing to migrate"}, nil
	default:
		return nil, fmt.Errorf("sink.type: %q has no migrations in this build", cfg.Sink.Type)
	}
}
