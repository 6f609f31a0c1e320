package bqsink

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/bigquery"

	"github.com/chorusml/chorus/worker/errkind"
)

// Migrate creates the dataset (in Options.Location) and the results table
// when they are missing: Schema(), partitioned by DAY on scored_at,
// clustered by tenant, PRIMARY KEY (tenant, response_id, pipeline_version)
// NOT ENFORCED, and max_staleness from Options.MaxStaleness. It never alters
// what exists: a second run is a no-op, and an existing table is only
// checked (as Open does) so that a table the driver cannot upsert into is
// reported here rather than on the first Write. Runs racing each other are
// safe: "already exists" counts as success.
func Migrate(ctx context.Context, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	client, err := bigquery.NewClient(ctx, opts.Project, opts.ClientOptions...)
	if err != nil {
		return classify("migrate: client", err)
	}
	defer client.Close()

	if err := ensureDataset(ctx, client, opts); err != nil {
		return err
	}
	t := client.Dataset(opts.Dataset).Table(opts.Table)
	md, err := t.Metadata(ctx)
	if isNotFound(err) {
		err = t.Create(ctx, tableMetadata(opts))
		if err == nil {
			return nil
		}
		if !isConflict(err) {
			return classify("migrate: create table "+tableName(opts), err)
		}
		// Someone else created it meanwhile: check theirs.
		md, err = t.Metadata(ctx)
	}
	if err != nil {
		return classify("migrate: get table "+tableName(opts), err)
	}
	return verify(opts, md)
}

func ensureDataset(ctx context.Context, client *bigquery.Client, opts Options) error {
	ds := client.Dataset(opts.Dataset)
	md, err := ds.Metadata(ctx)
	if isNotFound(err) {
		err = ds.Create(ctx, &bigquery.DatasetMetadata{
			Location:    opts.Location,
			Description: "Chorus results",
		})
		if err == nil || isConflict(err) {
			md, err = ds.Metadata(ctx)
		}
	}
	if err != nil {
		return classify("migrate: dataset "+opts.Project+"."+opts.Dataset, err)
	}
	if md.Location != "" && !strings.EqualFold(md.Location, opts.Location) {
		return errkind.Errorf(errkind.Permanent, ReasonTableMismatch,
			"bqsink: dataset %s.%s is in %s, not %s: set the location to match", opts.Project, opts.Dataset, md.Location, opts.Location)
	}
	return nil
}

// tableMetadata is what Migrate creates.
func tableMetadata(opts Options) *bigquery.TableMetadata {
	md := &bigquery.TableMetadata{
		Description: "Chorus tagged responses, one row per (tenant, response_id, pipeline_version), written as BigQuery CDC upserts.",
		Schema:      Schema(),
		TimePartitioning: &bigquery.TimePartitioning{
			Type:  bigquery.DayPartitioningType,
			Field: PartitionColumn,
		},
		Clustering: &bigquery.Clustering{Fields: ClusterColumns()},
		TableConstraints: &bigquery.TableConstraints{
			PrimaryKey: &bigquery.PrimaryKey{Columns: KeyColumns()},
		},
	}
	if opts.MaxStaleness > 0 {
		md.MaxStaleness = bigquery.IntervalValueFromDuration(opts.MaxStaleness)
	}
	return md
}

// checkTable fetches the table and verifies it (Open).
func checkTable(ctx context.Context, opts Options) error {
	client, err := bigquery.NewClient(ctx, opts.Project, opts.ClientOptions...)
	if err != nil {
		return classify("open: client", err)
	}
	defer client.Close()
	md, err := client.Dataset(opts.Dataset).Table(opts.Table).Metadata(ctx)
	if err != nil {
		if isNotFound(err) {
			return errkind.New(errkind.Permanent, ReasonTableNotFound,
				fmt.Errorf("bqsink: table %s does not exist (run `chorus migrate`): %w", tableName(opts), err))
		}
		return classify("open: get table "+tableName(opts), err)
	}
	return verify(opts, md)
}

// verify checks what Write relies on: the primary key (without it, CDC
// upserts are refused) and every column Write sends, with its type and a
// compatible mode. Partitioning and clustering are left to the operator.
func verify(opts Options, md *bigquery.TableMetadata) error {
	var problems []string
	var pk []string
	if md.TableConstraints != nil && md.TableConstraints.PrimaryKey != nil {
		pk = md.TableConstraints.PrimaryKey.Columns
	}
	if !slices.Equal(pk, KeyColumns()) {
		problems = append(problems, fmt.Sprintf("primary key is %v, want %v (CDC upserts need it)", pk, KeyColumns()))
	}
	problems = append(problems, compareSchema("", Schema(), md.Schema)...)
	if len(problems) == 0 {
		return nil
	}
	return errkind.New(errkind.Permanent, ReasonTableMismatch,
		fmt.Errorf("bqsink: table %s cannot take chorus results: %s", tableName(opts), strings.Join(problems, "; ")))
}

func compareSchema(prefix string, want, got bigquery.Schema) []string {
	var problems []string
	for _, w := range want {
		i := slices.IndexFunc(got, func(g *bigquery.FieldSchema) bool { return strings.EqualFold(g.Name, w.Name) })
		if i < 0 {
			problems = append(problems, fmt.Sprintf("column %s%s is missing", prefix, w.Name))
			continue
		}
		g := got[i]
		switch {
		case normType(g.Type) != normType(w.Type):
			problems = append(problems, fmt.Sprintf("column %s%s is %s, want %s", prefix, w.Name, g.Type, w.Type))
		case g.Repeated != w.Repeated:
			problems = append(problems, fmt.Sprintf("column %s%s repeated=%v, want %v", prefix, w.Name, g.Repeated, w.Repeated))
		case g.Required && prefix == "" && w.Name == colRunID:
			// The only column Write leaves NULL (no run id).
			problems = append(problems, fmt.Sprintf("column %s is REQUIRED, but is NULL for live traffic", w.Name))
		case w.Type == bigquery.RecordFieldType:
			problems = append(problems, compareSchema(prefix+w.Name+".", w.Schema, g.Schema)...)
		}
	}
	for _, g := range got {
		if g.Required && !slices.ContainsFunc(want, func(w *bigquery.FieldSchema) bool { return strings.EqualFold(g.Name, w.Name) }) {
			problems = append(problems, fmt.Sprintf("column %s%s is REQUIRED but chorus does not write it", prefix, g.Name))
		}
	}
	return problems
}

func normType(t bigquery.FieldType) bigquery.FieldType {
	switch t {
	case "FLOAT64":
		return bigquery.FloatFieldType
	case "BOOL":
		return bigquery.BooleanFieldType
	case "INT64":
		return bigquery.IntegerFieldType
	case "STRUCT":
		return bigquery.RecordFieldType
	}
	return t
}

func tableName(o Options) string { return o.Project + "." + o.Dataset + "." + o.Table }
