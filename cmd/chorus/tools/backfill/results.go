package backfill

import (
	"context"
	"fmt"
	"regexp"

	"cloud.google.com/go/bigquery"
	"github.com/jackc/pgx/v5"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/chorusml/chorus/worker/errkind"
)

// Key identifies a response.
type Key struct{ Tenant, ResponseID string }

// StaleChecker finds which responses already have a result of a pipeline
// version, so --stale-version skips them. One call per batch of keys.
type StaleChecker interface {
	// Scored returns the subset of keys with a row of pipeline version.
	Scored(ctx context.Context, version string, keys []Key) (map[Key]bool, error)
	Close() error
}

// staleBatch is how many keys one stale check asks about.
const staleBatch = 1000

// PostgresResults reads the sink's results table in Postgres: the
// stale-version check and a run's row count.
type PostgresResults struct {
	conn  *pgx.Conn
	table string // quoted
}

// OpenPostgresResults connects to dsn; schema and table name the results
// table (defaults public.chorus_results).
func OpenPostgresResults(ctx context.Context, dsn, schema, table string) (*PostgresResults, error) {
	if schema == "" {
		schema = "public"
	}
	if table == "" {
		table = "chorus_results"
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, errkind.Errorf(errkind.Permanent, "bad_dsn", "backfill: invalid Postgres DSN (its text is withheld)")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, errkind.New(errkind.Retryable, "connect", fmt.Errorf("backfill: connect to the sink's Postgres: %w", err))
	}
	return &PostgresResults{conn: conn, table: pgx.Identifier{schema, table}.Sanitize()}, nil
}

// Scored implements StaleChecker with one parameterised query.
func (p *PostgresResults) Scored(ctx context.Context, version string, keys []Key) (map[Key]bool, error) {
	tenants := make([]string, len(keys))
	ids := make([]string, len(keys))
	for i, k := range keys {
		tenants[i], ids[i] = k.Tenant, k.ResponseID
	}
	rows, err := p.conn.Query(ctx, `SELECT r.tenant, r.response_id FROM `+p.table+` r
		JOIN unnest($2::text[], $3::text[]) AS k(tenant, response_id)
		ON r.tenant = k.tenant AND r.response_id = k.response_id
		WHERE r.pipeline_version = $1`, version, tenants, ids)
	if err != nil {
		return nil, errkind.New(errkind.Retryable, "stale_check", fmt.Errorf("backfill: stale-version check: %w", err))
	}
	out := map[Key]bool{}
	var k Key
	_, err = pgx.ForEachRow(rows, []any{&k.Tenant, &k.ResponseID}, func() error {
		out[k] = true
		return nil
	})
	if err != nil {
		return nil, errkind.New(errkind.Retryable, "stale_check", fmt.Errorf("backfill: stale-version check: %w", err))
	}
	return out, nil
}

// Close implements StaleChecker.
func (p *PostgresResults) Close() error { return p.conn.Close(context.Background()) }

// BigQueryResults is PostgresResults for BigQuery.
type BigQueryResults struct {
	client *bigquery.Client
	table  string // `project.dataset.table`
}

// OpenBigQueryResults returns a checker of project.dataset.table.
func OpenBigQueryResults(ctx context.Context, project, dataset, table string, opts ...option.ClientOption) (*BigQueryResults, error) {
	if table == "" {
		table = "chorus_results"
	}
	if project == "" || dataset == "" {
		return nil, errkind.Errorf(errkind.Permanent, "bad_config", "backfill: the BigQuery stale check needs a project and a dataset")
	}
	ref, err := bqTable(project, dataset, table)
	if err != nil {
		return nil, err
	}
	client, err := bigquery.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, errkind.New(errkind.Permanent, "bad_config", fmt.Errorf("backfill: BigQuery client: %w", err))
	}
	return &BigQueryResults{client: client, table: ref}, nil
}

// BigQuery's own rules for the parts of a table path. Checked, not
// escaped: the path is the one thing in these queries that cannot be a
// parameter, and a name outside the rules is a mistake worth stopping on.
var (
	bqProjectRE = regexp.MustCompile(`^(?:[a-z][a-z0-9.-]*:)?[a-z0-9][a-z0-9-]{0,62}$`)
	bqDatasetRE = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	// Tables may hold Unicode letters, marks, numbers, connectors, dashes
	// and spaces; never a backtick, a backslash, a dot or a control.
	bqTableRE = regexp.MustCompile(`^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd} ]+$`)
)

// bqTable is the quoted path `project.dataset.table`, refusing names that
// BigQuery would not accept (and that could close the quoting).
func bqTable(project, dataset, table string) (string, error) {
	bad := func(what, v string) error {
		return errkind.Errorf(errkind.Permanent, "bad_config", "backfill: BigQuery %s %q is not a valid name", what, v)
	}
	switch {
	case !bqProjectRE.MatchString(project):
		return "", bad("project", project)
	case len(dataset) > 1024 || !bqDatasetRE.MatchString(dataset):
		return "", bad("dataset", dataset)
	case len(table) > 1024 || !bqTableRE.MatchString(table):
		return "", bad("table", table)
	}
	return "`" + project + "." + dataset + "." + table + "`", nil
}

// Scored implements StaleChecker: one query with array parameters; the
// pairs are matched exactly here.
func (b *BigQueryResults) Scored(ctx context.Context, version string, keys []Key) (map[Key]bool, error) {
	want := make(map[Key]bool, len(keys))
	var tenants, ids []string
	seenTenant := map[string]bool{}
	for _, k := range keys {
		want[k] = true
		if !seenTenant[k.Tenant] {
			seenTenant[k.Tenant] = true
			tenants = append(tenants, k.Tenant)
		}
		ids = append(ids, k.ResponseID)
	}
	q := b.client.Query("SELECT tenant, response_id FROM " + b.table +
		" WHERE pipeline_version = @version AND tenant IN UNNEST(@tenants) AND response_id IN UNNEST(@ids)")
	q.Parameters = []bigquery.QueryParameter{{Name: "version", Value: version}, {Name: "tenants", Value: tenants}, {Name: "ids", Value: ids}}
	it, err := q.Read(ctx)
	if err != nil {
		return nil, errkind.New(errkind.Retryable, "stale_check", fmt.Errorf("backfill: stale-version check: %w", err))
	}
	out := map[Key]bool{}
	for {
		var row struct {
			Tenant     string `bigquery:"tenant"`
			ResponseID string `bigquery:"response_id"`
		}
		err := it.Next(&row)
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, errkind.New(errkind.Retryable, "stale_check", fmt.Errorf("backfill: stale-version check: %w", err))
		}
		if k := (Key{row.Tenant, row.ResponseID}); want[k] {
			out[k] = true
		}
	}
}

// Close implements StaleChecker.
func (b *BigQueryResults) Close() error { return b.client.Close() }

// CountRun counts the distinct responses a run wrote.
func (p *PostgresResults) CountRun(ctx context.Context, runID string) (int64, error) {
	var n int64
	err := p.conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT tenant, response_id FROM `+p.table+` WHERE run_id = $1) s`, runID).Scan(&n)
	if err != nil {
		return 0, errkind.New(errkind.Retryable, "count_run", fmt.Errorf("backfill: counting the run's rows: %w", err))
	}
	return n, nil
}

// CountRun counts the distinct responses a run wrote.
func (b *BigQueryResults) CountRun(ctx context.Context, runID string) (int64, error) {
	q := b.client.Query("SELECT COUNT(DISTINCT CONCAT(tenant, '\\x00', response_id)) AS n FROM " + b.table + " WHERE run_id = @run")
	q.Parameters = []bigquery.QueryParameter{{Name: "run", Value: runID}}
	it, err := q.Read(ctx)
	if err != nil {
		return 0, errkind.New(errkind.Retryable, "count_run", fmt.Errorf("backfill: counting the run's rows: %w", err))
	}
	var row struct {
		N int64 `bigquery:"n"`
	}
	if err := it.Next(&row); err != nil {
		return 0, errkind.New(errkind.Retryable, "count_run", fmt.Errorf("backfill: counting the run's rows: %w", err))
	}
	return row.N, nil
}
