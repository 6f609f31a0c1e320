package bqsink

import (
	"context"
	"fmt"
	"regexp"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/errkind"
)

// Reasons of the errors Results and QueryReader return.
const (
	// ReasonBadConfig: a project, dataset or query is missing or not a
	// valid name, or the client could not be made.
	ReasonBadConfig errkind.Reason = "bad_config"
	// ReasonStaleCheck: Results.Scored's query failed.
	ReasonStaleCheck errkind.Reason = "stale_check"
	// ReasonCountRun: Results.CountRun's query failed.
	ReasonCountRun errkind.Reason = "count_run"
)

// Results reads a results table the sink wrote: which responses have a row
// of a pipeline version, and how many responses a run wrote.
type Results struct {
	client *bigquery.Client
	table  string // `project.dataset.table`
}

// OpenResults returns a reader of project.dataset.table (table defaults to
// DefaultTable). opts are client options (an endpoint override for tests,
// credentials).
func OpenResults(ctx context.Context, project, dataset, table string, opts ...option.ClientOption) (*Results, error) {
	if table == "" {
		table = DefaultTable
	}
	if project == "" || dataset == "" {
		return nil, errkind.Errorf(errkind.Permanent, ReasonBadConfig, "bqsink: the BigQuery stale check needs a project and a dataset")
	}
	ref, err := bqTable(project, dataset, table)
	if err != nil {
		return nil, err
	}
	client, err := bigquery.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, errkind.New(errkind.Permanent, ReasonBadConfig, fmt.Errorf("bqsink: BigQuery client: %w", err))
	}
	return &Results{client: client, table: ref}, nil
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
		return errkind.Errorf(errkind.Permanent, ReasonBadConfig, "bqsink: BigQuery %s %q is not a valid name", what, v)
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

// Scored returns the subset of keys with a row of pipeline version: one
// query with array parameters; the pairs are matched exactly here.
func (b *Results) Scored(ctx context.Context, version string, keys []sinks.ResponseKey) (map[sinks.ResponseKey]bool, error) {
	want := make(map[sinks.ResponseKey]bool, len(keys))
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
		return nil, errkind.New(errkind.Retryable, ReasonStaleCheck, fmt.Errorf("bqsink: stale-version check: %w", err))
	}
	out := map[sinks.ResponseKey]bool{}
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
			return nil, errkind.New(errkind.Retryable, ReasonStaleCheck, fmt.Errorf("bqsink: stale-version check: %w", err))
		}
		if k := (sinks.ResponseKey{Tenant: row.Tenant, ResponseID: row.ResponseID}); want[k] {
			out[k] = true
		}
	}
}

// CountRun counts the distinct responses a run wrote.
func (b *Results) CountRun(ctx context.Context, runID string) (int64, error) {
	q := b.client.Query("SELECT COUNT(DISTINCT CONCAT(tenant, '\\x00', response_id)) AS n FROM " + b.table + " WHERE run_id = @run")
	q.Parameters = []bigquery.QueryParameter{{Name: "run", Value: runID}}
	it, err := q.Read(ctx)
	if err != nil {
		return 0, errkind.New(errkind.Retryable, ReasonCountRun, fmt.Errorf("bqsink: counting the run's rows: %w", err))
	}
	var row struct {
		N int64 `bigquery:"n"`
	}
	if err := it.Next(&row); err != nil {
		return 0, errkind.New(errkind.Retryable, ReasonCountRun, fmt.Errorf("bqsink: counting the run's rows: %w", err))
	}
	return row.N, nil
}

// Close closes the client.
func (b *Results) Close() error { return b.client.Close() }
