package bqsink_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"

	"github.com/chorusml/chorus/sinks/bqsink"
	"github.com/chorusml/chorus/sinks/bqsink/bqfake"
	"github.com/chorusml/chorus/worker/errkind"
)

func restClient(ctx context.Context, t *testing.T, opts bqsink.Options) *bigquery.Client {
	t.Helper()
	c, err := bigquery.NewClient(ctx, opts.Project, opts.ClientOptions...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// createTable creates the table itself, with schema and optionally the
// primary key, as an operator might have.
func createTable(schema bigquery.Schema, withKey bool) func(context.Context, *testing.T, bqsink.Options) {
	return func(ctx context.Context, t *testing.T, opts bqsink.Options) {
		t.Helper()
		c := restClient(ctx, t, opts)
		ds := c.Dataset(opts.Dataset)
		if err := ds.Create(ctx, &bigquery.DatasetMetadata{Location: "US"}); err != nil && !isHTTP(err, http.StatusConflict) {
			t.Fatal(err)
		}
		md := &bigquery.TableMetadata{Schema: schema}
		if withKey {
			md.TableConstraints = &bigquery.TableConstraints{PrimaryKey: &bigquery.PrimaryKey{Columns: bqsink.KeyColumns()}}
		}
		if err := ds.Table(opts.Table).Create(ctx, md); err != nil {
			t.Fatal(err)
		}
	}
}

func isHTTP(err error, code int) bool {
	ge, ok := err.(*googleapi.Error)
	return ok && ge.Code == code
}

func TestMigrateCreatesTable(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name          string
		location      string
		maxStaleness  time.Duration
		wantStaleness *bigquery.IntervalValue
	}{
		{"defaults", "", 0, nil},
		{"eu_with_staleness", "EU", 15 * time.Minute, &bigquery.IntervalValue{Minutes: 15}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			opts := f.options()
			opts.Dataset = "ds_" + tc.name
			opts.Location, opts.MaxStaleness = tc.location, tc.maxStaleness
			if err := bqsink.Migrate(ctx, opts); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			c := restClient(ctx, t, opts)
			dsMD, err := c.Dataset(opts.Dataset).Metadata(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantLoc := tc.location
			if wantLoc == "" {
				wantLoc = bqsink.DefaultLocation
			}
			if dsMD.Location != wantLoc {
				t.Errorf("dataset location %q, want %q", dsMD.Location, wantLoc)
			}
			md, err := c.Dataset(opts.Dataset).Table(opts.Table).Metadata(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tp := md.TimePartitioning; tp == nil || tp.Type != bigquery.DayPartitioningType || tp.Field != "scored_at" {
				t.Errorf("time partitioning %+v, want DAY on scored_at", tp)
			}
			if md.RequirePartitionFilter {
				t.Error("require_partition_filter is on; CDC runtime merges refuse it")
			}
			if cl := md.Clustering; cl == nil || !slices.Equal(cl.Fields, []string{"tenant"}) {
				t.Errorf("clustering %+v, want [tenant]", cl)
			}
			if tc := md.TableConstraints; tc == nil || tc.PrimaryKey == nil ||
				!slices.Equal(tc.PrimaryKey.Columns, []string{"tenant", "response_id", "pipeline_version"}) {
				t.Errorf("table constraints %+v, want PRIMARY KEY (tenant, response_id, pipeline_version)", tc)
			}
			switch {
			case tc.wantStaleness == nil && md.MaxStaleness != nil:
				t.Errorf("max_staleness %v, want unset", md.MaxStaleness)
			case tc.wantStaleness != nil && (md.MaxStaleness == nil || md.MaxStaleness.ToDuration() != tc.wantStaleness.ToDuration()):
				t.Errorf("max_staleness %v, want %v", md.MaxStaleness, tc.wantStaleness)
			}
			checkSchema(t, "", md.Schema, wantSchema())
		})
	}
}

// wantSchema spells the requested schema out independently of
// bqsink.Schema().
func wantSchema() []wantField {
	return []wantField{
		{name: "tenant", typ: bigquery.StringFieldType, required: true},
		{name: "response_id", typ: bigquery.StringFieldType, required: true},
		{name: "pipeline", typ: bigquery.StringFieldType},
		{name: "pipeline_version", typ: bigquery.StringFieldType, required: true},
		{name: "sentiment_label", typ: bigquery.StringFieldType},
		{name: "sentiment_score", typ: bigquery.FloatFieldType},
		{name: "tags", typ: bigquery.RecordFieldType, repeated: true, fields: []wantField{
			{name: "tag", typ: bigquery.StringFieldType},
			{name: "score", typ: bigquery.FloatFieldType},
			{name: "models", typ: bigquery.StringFieldType, repeated: true},
		}},
		{name: "model_versions", typ: bigquery.RecordFieldType, repeated: true, fields: []wantField{
			{name: "model", typ: bigquery.StringFieldType},
			{name: "version", typ: bigquery.StringFieldType},
		}},
		{name: "partial", typ: bigquery.BooleanFieldType},
		{name: "run_id", typ: bigquery.StringFieldType},
		{name: "source_message_id", typ: bigquery.StringFieldType},
		{name: "scored_at", typ: bigquery.TimestampFieldType, required: true},
	}
}

type wantField struct {
	name               string
	typ                bigquery.FieldType
	required, repeated bool
	fields             []wantField
}

func checkSchema(t *testing.T, prefix string, got bigquery.Schema, want []wantField) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d columns, want %d", prefix, len(got), len(want))
		return
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Type != w.typ || g.Required != w.required || g.Repeated != w.repeated {
			t.Errorf("column %s%d = %s %s required=%v repeated=%v, want %s %s required=%v repeated=%v",
				prefix, i, g.Name, g.Type, g.Required, g.Repeated, w.name, w.typ, w.required, w.repeated)
			continue
		}
		if w.fields != nil {
			checkSchema(t, prefix+w.name+".", g.Schema, w.fields)
		}
	}
}

func TestMigrateTwiceIsNoOp(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t)
	opts := f.migrated(ctx, t)
	c := restClient(ctx, t, opts)
	before, err := c.Dataset(opts.Dataset).Table(opts.Table).Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Rows written in between survive a second run.
	s := open(ctx, t, opts)
	if err := s.Write(ctx, batch(0, 3)); err != nil {
		t.Fatal(err)
	}
	var inserts int
	f.srv.AddReactor(bqfake.RESTTablesInsert, bqfake.ReactorFunc(func(any) (bool, any, error) {
		inserts++
		return false, nil, nil
	}))
	defer f.srv.ClearReactors()
	if err := bqsink.Migrate(ctx, opts); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	after, err := c.Dataset(opts.Dataset).Table(opts.Table).Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if inserts != 0 {
		t.Errorf("second migrate inserted %d tables", inserts)
	}
	if after.ETag != before.ETag || !after.CreationTime.Equal(before.CreationTime) {
		t.Errorf("table changed: etag %q → %q, created %v → %v", before.ETag, after.ETag, before.CreationTime, after.CreationTime)
	}
	if got := visibleKeys(ctx, t, opts); len(got) != 3 {
		t.Errorf("%d rows after the second migrate, want 3", len(got))
	}
}

func TestMigrateErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		setup      func(ctx context.Context, t *testing.T, opts bqsink.Options)
		opts       func(bqsink.Options) bqsink.Options
		wantKind   errkind.Kind
		wantReason errkind.Reason
	}{
		{
			name:       "existing_table_without_key",
			setup:      createTable(bqsink.Schema(), false),
			wantKind:   errkind.Permanent,
			wantReason: bqsink.ReasonTableMismatch,
		},
		{
			name: "dataset_in_another_location",
			setup: func(ctx context.Context, t *testing.T, opts bqsink.Options) {
				if err := f.srv.CreateDataset(opts.Project, opts.Dataset, "EU"); err != nil {
					t.Fatal(err)
				}
			},
			opts:       func(o bqsink.Options) bqsink.Options { o.Location = "US"; return o },
			wantKind:   errkind.Permanent,
			wantReason: bqsink.ReasonTableMismatch,
		},
		{
			name: "rate_limited",
			setup: func(ctx context.Context, t *testing.T, opts bqsink.Options) {
				f.srv.AddReactor(bqfake.RESTTablesInsert, bqfake.ReactorFunc(func(any) (bool, any, error) {
					return true, nil, &googleapi.Error{Code: http.StatusForbidden, Message: "slow down",
						Errors: []googleapi.ErrorItem{{Reason: "rateLimitExceeded"}}}
				}))
			},
			wantKind:   errkind.Retryable,
			wantReason: "rate_limit_exceeded",
		},
		{
			name: "access_denied",
			setup: func(ctx context.Context, t *testing.T, opts bqsink.Options) {
				f.srv.AddReactor(bqfake.RESTDatasetsGet, bqfake.ReactorFunc(func(any) (bool, any, error) {
					return true, nil, &googleapi.Error{Code: http.StatusForbidden, Message: "no",
						Errors: []googleapi.ErrorItem{{Reason: "accessDenied"}}}
				}))
			},
			wantKind:   errkind.Permanent,
			wantReason: "access_denied",
		},
		{
			name:       "negative_staleness",
			setup:      func(ctx context.Context, t *testing.T, opts bqsink.Options) {},
			opts:       func(o bqsink.Options) bqsink.Options { o.MaxStaleness = -time.Second; return o },
			wantKind:   errkind.Permanent,
			wantReason: bqsink.ReasonBadOptions,
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			opts := f.options()
			opts.Dataset = "ds" + string(rune('a'+i))
			tc.setup(ctx, t, opts)
			defer f.srv.ClearReactors()
			if tc.opts != nil {
				opts = tc.opts(opts)
			}
			// The REST client retries rateLimitExceeded until the
			// deadline; the classification must survive that.
			mctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			err := bqsink.Migrate(mctx, opts)
			if err == nil {
				t.Fatal("migrate succeeded")
			}
			if k := errkind.KindOf(err); k != tc.wantKind {
				t.Errorf("kind %v, want %v (%v)", k, tc.wantKind, err)
			}
			if tc.wantReason != "" && errkind.ReasonOf(err) != tc.wantReason {
				t.Errorf("reason %q, want %q (%v)", errkind.ReasonOf(err), tc.wantReason, err)
			}
		})
	}
}
