package bqsink_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/bqsink"
	"github.com/chorusml/chorus/sinks/bqsink/bqfake"
	"github.com/chorusml/chorus/sinks/sinktest"
	"github.com/chorusml/chorus/worker/errkind"
)

// testCtx bounds one subtest so that a hang fails fast.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func open(ctx context.Context, t *testing.T, opts bqsink.Options) *bqsink.Sink {
	t.Helper()
	s, err := bqsink.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

func batch(first, n int) []sinks.Result {
	out := make([]sinks.Result, n)
	for i := range out {
		out[i] = sinktest.Row(first + i)
	}
	return out
}

// visibleKeys reads the table back through the REST client and fails on a
// key seen twice.
func visibleKeys(ctx context.Context, t *testing.T, opts bqsink.Options) map[sinks.Key]sinks.Result {
	t.Helper()
	rows, err := bqsink.ReadAll(ctx, opts)
	if err != nil {
		t.Fatalf("read all: %v", err)
	}
	out := map[sinks.Key]sinks.Result{}
	for _, r := range rows {
		if _, dup := out[r.Key()]; dup {
			t.Errorf("key %+v visible twice", r.Key())
		}
		out[r.Key()] = r
	}
	return out
}

func TestRedeliveryLeavesNoDuplicate(t *testing.T) {
	tests := []struct {
		name       string
		deliveries int
		newSink    bool // each delivery through a new Sink, as on another worker
	}{
		{"same_sink_twice", 2, false},
		{"new_sink_each_time", 3, true},
	}
	f := newFixture(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			opts := f.migrated(ctx, t)
			rows := batch(0, 10)
			s := open(ctx, t, opts)
			for range tc.deliveries {
				if tc.newSink {
					s = open(ctx, t, opts)
				}
				if err := s.Write(ctx, rows); err != nil {
					t.Fatalf("write: %v", err)
				}
			}
			if got := visibleKeys(ctx, t, opts); len(got) != len(rows) {
				t.Errorf("%d rows visible, want %d", len(got), len(rows))
			}
			// Every delivery was appended; CDC made them one row per key.
			raw, err := f.srv.RawRows(opts.Project, opts.Dataset, opts.Table)
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) != tc.deliveries*len(rows) {
				t.Errorf("%d rows appended, want %d", len(raw), tc.deliveries*len(rows))
			}
			for _, r := range raw {
				if r.ChangeType != "UPSERT" || !strings.HasSuffix(r.Stream, "/streams/_default") || !strings.Contains(r.TraceID, "chorus") {
					t.Errorf("appended as %q on %q (trace %q), want UPSERT on _default with trace chorus", r.ChangeType, r.Stream, r.TraceID)
					break
				}
			}
		})
	}
}

func TestRowEncoding(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t)
	opts := f.migrated(ctx, t)
	s := open(ctx, t, opts)
	r := sinktest.Row(0) // no run id
	if err := s.Write(ctx, []sinks.Result{r}); err != nil {
		t.Fatal(err)
	}
	rows, err := f.srv.Rows(opts.Project, opts.Dataset, opts.Table)
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows = %v, %v", rows, err)
	}
	got := rows[0]
	if _, ok := got["run_id"]; ok {
		t.Errorf("run_id = %v, want NULL for an empty run id", got["run_id"])
	}
	var models []string
	for _, mv := range got["model_versions"].([]any) {
		models = append(models, mv.(bqfake.Row)["model"].(string))
	}
	if !slices.IsSorted(models) || len(models) != len(r.ModelVersions) {
		t.Errorf("model_versions models %v, want all %d sorted", models, len(r.ModelVersions))
	}
	if ts := got["scored_at"].(time.Time); !ts.Equal(r.ScoredAt) {
		t.Errorf("scored_at = %v, want %v", ts, r.ScoredAt)
	}
}

func TestRowErrorsMappedByIndex(t *testing.T) {
	f := newFixture(t)
	// rejectOnce answers the first append with row errors at the given
	// request indexes.
	rejectOnce := func(idx ...int64) bqfake.Reactor {
		var done atomic.Bool
		return bqfake.ReactorFunc(func(req any) (bool, any, error) {
			if done.Swap(true) {
				return false, nil, nil
			}
			resp := &storagepb.AppendRowsResponse{
				Response: &storagepb.AppendRowsResponse_Error{Error: status.New(codes.InvalidArgument, "bad rows").Proto()},
			}
			for _, i := range idx {
				resp.RowErrors = append(resp.RowErrors, &storagepb.RowError{Index: i, Code: storagepb.RowError_FIELDS_ERROR, Message: "injected"})
			}
			return true, resp, nil
		})
	}
	tests := []struct {
		name       string
		bad        map[int]func(sinks.Result) sinks.Result
		reactors   []bqfake.Reactor
		wantIdx    []int
		wantReason errkind.Reason
	}{
		{
			name:       "server_rejects",
			bad:        map[int]func(sinks.Result) sinks.Result{1: serverBadRow, 3: serverBadRow},
			wantIdx:    []int{1, 3},
			wantReason: bqsink.ReasonRowRejected,
		},
		{
			name: "server_rejects_invalid_utf8",
			bad: map[int]func(sinks.Result) sinks.Result{4: func(r sinks.Result) sinks.Result {
				r.SentimentLabel = "\xff\xfe"
				return r
			}},
			wantIdx:    []int{4},
			wantReason: bqsink.ReasonRowRejected,
		},
		{
			name:       "driver_rejects",
			bad:        map[int]func(sinks.Result) sinks.Result{0: driverBadRow, 4: func(r sinks.Result) sinks.Result { r.Tenant = ""; return r }},
			wantIdx:    []int{0, 4},
			wantReason: bqsink.ReasonInvalidRow,
		},
		{
			name:       "injected_row_errors",
			reactors:   []bqfake.Reactor{rejectOnce(2)},
			wantIdx:    []int{2},
			wantReason: bqsink.ReasonRowRejected,
		},
		{
			// The API says its list may be incomplete: the resend of the
			// other rows names one more (index 2 of the resend is row 3).
			name:       "incomplete_row_error_list",
			reactors:   []bqfake.Reactor{rejectOnce(1), rejectOnce(2)},
			wantIdx:    []int{1, 3},
			wantReason: bqsink.ReasonRowRejected,
		},
		{
			name:       "mixed_driver_and_server",
			bad:        map[int]func(sinks.Result) sinks.Result{0: driverBadRow, 2: serverBadRow},
			wantIdx:    []int{0, 2},
			wantReason: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			opts := f.migrated(ctx, t)
			s := open(ctx, t, opts)
			rows := batch(0, 5)
			for i, mk := range tc.bad {
				rows[i] = mk(rows[i])
			}
			// Reactors are server-wide: this subtest is not parallel.
			for _, r := range tc.reactors {
				f.srv.AddReactor(bqfake.RPCAppendRows, r)
			}
			defer f.srv.ClearReactors()

			err := s.Write(ctx, rows)
			re, ok := sinks.AsRowErrors(err)
			if !ok {
				t.Fatalf("write = %v, want RowErrors", err)
			}
			var idx []int
			for _, r := range re {
				idx = append(idx, r.Index)
				if errkind.KindOf(r.Err) != errkind.InvalidInput {
					t.Errorf("row %d: kind %v, want invalid_input", r.Index, errkind.KindOf(r.Err))
				}
				if tc.wantReason != "" && errkind.ReasonOf(r.Err) != tc.wantReason {
					t.Errorf("row %d: reason %q, want %q", r.Index, errkind.ReasonOf(r.Err), tc.wantReason)
				}
			}
			if !slices.Equal(idx, tc.wantIdx) {
				t.Errorf("rejected rows %v, want %v", idx, tc.wantIdx)
			}
			got := visibleKeys(ctx, t, opts)
			for i, r := range rows {
				_, visible := got[r.Key()]
				if want := !slices.Contains(tc.wantIdx, i); visible != want {
					t.Errorf("row %d visible = %v, want %v", i, visible, want)
				}
			}
		})
	}
}

func TestRowErrorsNamingNoRow(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t)
	opts := f.migrated(ctx, t)
	s := open(ctx, t, opts)
	f.srv.AddReactor(bqfake.RPCAppendRows, bqfake.ReactorFunc(func(any) (bool, any, error) {
		return true, &storagepb.AppendRowsResponse{
			Response:  &storagepb.AppendRowsResponse_Error{Error: status.New(codes.InvalidArgument, "bad rows").Proto()},
			RowErrors: []*storagepb.RowError{{Index: 99, Message: "out of range"}},
		}, nil
	}))
	err := s.Write(ctx, batch(0, 3))
	if _, ok := sinks.AsRowErrors(err); ok || err == nil {
		t.Fatalf("write = %v, want a request error", err)
	}
	if k := errkind.KindOf(err); k != errkind.Permanent {
		t.Errorf("kind %v, want permanent (InvalidArgument)", k)
	}
}

func TestAppendErrorsClassified(t *testing.T) {
	f := newFixture(t)
	inBand := func(c codes.Code) bqfake.Reactor {
		return bqfake.ReactorFunc(func(any) (bool, any, error) {
			return true, &storagepb.AppendRowsResponse{
				Response: &storagepb.AppendRowsResponse_Error{Error: status.New(c, "injected").Proto()},
			}, nil
		})
	}
	streamErr := func(c codes.Code) bqfake.Reactor {
		return bqfake.ReactorFunc(func(any) (bool, any, error) {
			return true, nil, status.Error(c, "injected")
		})
	}
	tests := []struct {
		name       string
		reactor    bqfake.Reactor
		wantKind   errkind.Kind
		wantReason errkind.Reason
	}{
		{"unavailable_ends_connection", streamErr(codes.Unavailable), errkind.Retryable, "unavailable"},
		{"unavailable_in_band", inBand(codes.Unavailable), errkind.Retryable, "unavailable"},
		{"internal_in_band", inBand(codes.Internal), errkind.Retryable, "internal"},
		{"resource_exhausted_in_band", inBand(codes.ResourceExhausted), errkind.Retryable, "resource_exhausted"},
		{"permission_denied_ends_connection", streamErr(codes.PermissionDenied), errkind.Permanent, "permission_denied"},
		{"not_found_in_band", inBand(codes.NotFound), errkind.Permanent, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			opts := f.migrated(ctx, t)
			s := open(ctx, t, opts)
			f.srv.AddReactor(bqfake.RPCAppendRows, tc.reactor)
			start := time.Now()
			wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := s.Write(wctx, batch(0, 3))
			cancel()
			f.srv.ClearReactors()
			if err == nil {
				t.Fatal("write succeeded")
			}
			if _, ok := sinks.AsRowErrors(err); ok {
				t.Fatalf("write = %v, want a request error", err)
			}
			if k := errkind.KindOf(err); k != tc.wantKind {
				t.Errorf("kind %v, want %v (%v)", k, tc.wantKind, err)
			}
			if r := errkind.ReasonOf(err); r != tc.wantReason {
				t.Errorf("reason %q, want %q", r, tc.wantReason)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("write took %v: the driver should not retry", d)
			}
			if got := visibleKeys(ctx, t, opts); len(got) != 0 {
				t.Errorf("%d rows visible after a failed write", len(got))
			}
			// The fault is gone: the same Sink reconnects and the retry lands.
			if err := s.Write(ctx, batch(0, 3)); err != nil {
				t.Fatalf("write after the fault: %v", err)
			}
			if got := visibleKeys(ctx, t, opts); len(got) != 3 {
				t.Errorf("%d rows visible, want 3", len(got))
			}
		})
	}
}

func TestWriteBoundedByContext(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t)
	opts := f.migrated(ctx, t)
	s := open(ctx, t, opts)
	release := make(chan struct{})
	defer close(release)
	// The server holds the append until the test ends.
	f.srv.AddReactor(bqfake.RPCAppendRows, bqfake.ReactorFunc(func(any) (bool, any, error) {
		<-release
		return true, nil, status.Error(codes.Unavailable, "too late")
	}))
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Write(wctx, batch(0, 2))
	if !errors.Is(err, context.DeadlineExceeded) || errkind.KindOf(err) != errkind.Retryable {
		t.Errorf("write = %v (kind %v), want a retryable deadline error", err, errkind.KindOf(err))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("write returned after %v, want about 200ms", d)
	}
}

func TestCloseWaitsForWrites(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t)
	opts := f.migrated(ctx, t)
	s := open(ctx, t, opts)
	entered := make(chan struct{})
	release := make(chan struct{})
	var once atomic.Bool
	f.srv.AddReactor(bqfake.RPCAppendRows, bqfake.ReactorFunc(func(any) (bool, any, error) {
		if !once.Swap(true) {
			close(entered)
			<-release
		}
		return false, nil, nil
	}))
	done := make(chan error, 1)
	go func() { done <- s.Write(ctx, batch(0, 4)) }()
	<-entered

	// Close with a short deadline gives up waiting, and says so.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.Close(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("close = %v, want a deadline error while a write is in flight", err)
	}
	if err := s.Write(ctx, batch(10, 1)); !errors.Is(err, sinks.ErrClosed) {
		t.Errorf("write after close = %v, want ErrClosed", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("write in flight during close: %v", err)
	}
	if got := visibleKeys(ctx, t, opts); len(got) != 4 {
		t.Errorf("%d rows visible, want 4", len(got))
	}
}

func TestOpenRefusesUnfitTables(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		setup      func(ctx context.Context, t *testing.T, opts bqsink.Options)
		opts       func(bqsink.Options) bqsink.Options
		wantReason errkind.Reason
	}{
		{
			name:       "missing_table",
			setup:      func(ctx context.Context, t *testing.T, opts bqsink.Options) {},
			wantReason: bqsink.ReasonTableNotFound,
		},
		{
			name:       "no_primary_key",
			setup:      createTable(bqsink.Schema(), false),
			wantReason: bqsink.ReasonTableMismatch,
		},
		{
			name: "column_missing",
			setup: createTable(slices.DeleteFunc(bqsink.Schema(), func(f *bigquery.FieldSchema) bool {
				return f.Name == "partial"
			}), true),
			wantReason: bqsink.ReasonTableMismatch,
		},
		{
			name: "run_id_required",
			setup: createTable(func() bigquery.Schema {
				s := bqsink.Schema()
				for _, c := range s {
					if c.Name == "run_id" {
						c.Required = true
					}
				}
				return s
			}(), true),
			wantReason: bqsink.ReasonTableMismatch,
		},
		{
			name:       "no_project",
			setup:      func(ctx context.Context, t *testing.T, opts bqsink.Options) {},
			opts:       func(o bqsink.Options) bqsink.Options { o.Project = ""; return o },
			wantReason: bqsink.ReasonBadOptions,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			opts := f.options()
			tc.setup(ctx, t, opts)
			if tc.opts != nil {
				opts = tc.opts(opts)
			}
			s, err := bqsink.Open(ctx, opts)
			if err == nil {
				_ = s.Close(ctx)
				t.Fatal("open succeeded")
			}
			if k := errkind.KindOf(err); k != errkind.Permanent {
				t.Errorf("kind %v, want permanent (%v)", k, err)
			}
			if r := errkind.ReasonOf(err); r != tc.wantReason {
				t.Errorf("reason %q, want %q (%v)", r, tc.wantReason, err)
			}
		})
	}
}

func TestBadRowHelpersAreBad(t *testing.T) {
	// Guards the harness: the helpers must really produce rows BigQuery
	// (the fake) or the driver refuses.
	if r := serverBadRow(sinktest.Row(1)); r.ScoredAt.Year() < 10000 {
		t.Errorf("server bad row scored at %v", r.ScoredAt)
	}
	if r := driverBadRow(sinktest.Row(1)); !math.IsNaN(r.SentimentScore) {
		t.Errorf("driver bad row score %v", r.SentimentScore)
	}
}

func TestBatchSplitAcrossRequests(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t)
	opts := f.migrated(ctx, t)
	s := open(ctx, t, opts)
	bqsink.SetMaxRequestBytes(s, 700) // a few rows per request
	var (
		mu    sync.Mutex
		sizes []int // rows per AppendRows request, in order
	)
	f.srv.AddReactor(bqfake.RPCAppendRows, bqfake.ReactorFunc(func(req any) (bool, any, error) {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(req.(*storagepb.AppendRowsRequest).GetProtoRows().GetRows().GetSerializedRows()))
		return true, nil, nil // watch, then let the fake answer
	}))
	defer f.srv.ClearReactors()

	const bad = 5
	rows := batch(0, 7)
	rows[bad] = serverBadRow(rows[bad])
	err := s.Write(ctx, rows)
	re, ok := sinks.AsRowErrors(err)
	if !ok || len(re) != 1 || re[0].Index != bad {
		t.Fatalf("write = %v, want one row error at index %d", err, bad)
	}
	mu.Lock()
	defer mu.Unlock()
	// The first pass covers the batch in several requests; only the
	// request holding the bad row is sent again, without it.
	sent, rejectedSize, i := 0, 0, 0
	for ; sent < len(rows) && i < len(sizes); i++ {
		if sent <= bad && bad < sent+sizes[i] {
			rejectedSize = sizes[i]
		}
		sent += sizes[i]
	}
	t.Logf("rows per request: %v", sizes)
	if i < 2 || sent != len(rows) {
		t.Fatalf("requests %v: the batch was not split", sizes)
	}
	if resend := sizes[i:]; rejectedSize == 1 && len(resend) != 0 || rejectedSize > 1 && !slices.Equal(resend, []int{rejectedSize - 1}) {
		t.Errorf("requests %v: want the %d other rows of the rejected request sent once more", sizes, rejectedSize-1)
	}
	raw, err := f.srv.RawRows(opts.Project, opts.Dataset, opts.Table)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != len(rows)-1 {
		t.Errorf("%d rows appended, want %d", len(raw), len(rows)-1)
	}
	if got := visibleKeys(ctx, t, opts); len(got) != len(rows)-1 {
		t.Errorf("%d rows visible, want %d", len(got), len(rows)-1)
	}
}

func TestEndpointOptionsReachFake(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t)
	opts := f.options()
	// As a child process would be configured: two endpoint strings.
	opts.ClientOptions, opts.WriteClientOptions = bqsink.EndpointOptions(
		f.srv.RESTEndpoint(), strings.Replace(f.srv.GRPCEndpoint(), "127.0.0.1", "localhost", 1))
	if err := bqsink.Migrate(ctx, opts); err != nil {
		t.Fatal(err)
	}
	s := open(ctx, t, opts)
	if err := s.Write(ctx, batch(0, 2)); err != nil {
		t.Fatal(err)
	}
	if got := visibleKeys(ctx, t, opts); len(got) != 2 {
		t.Errorf("%d rows visible, want 2", len(got))
	}
}

func TestOpenBoundedByContext(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t)
	opts := f.migrated(ctx, t)
	release := make(chan struct{})
	defer close(release)
	f.srv.AddReactor(bqfake.RPCGetWriteStream, bqfake.ReactorFunc(func(any) (bool, any, error) {
		<-release
		return true, nil, status.Error(codes.NotFound, "too late")
	}))
	defer f.srv.ClearReactors()
	octx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	s, err := bqsink.Open(octx, opts)
	if err == nil {
		_ = s.Close(ctx)
		t.Fatal("open succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("open = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("open returned after %v, want about 200ms", d)
	}
}

func TestOpenAcceptsCompatibleTable(t *testing.T) {
	ctx := testCtx(t)
	f := newFixture(t)
	opts := f.options()
	// An operator's table: an extra column, a stricter mode where Write
	// always sends a value, no partitioning or clustering.
	schema := bqsink.Schema()
	for _, c := range schema {
		if c.Name == "pipeline" {
			c.Required = true
		}
	}
	schema = append(schema, &bigquery.FieldSchema{Name: "note", Type: bigquery.StringFieldType})
	createTable(schema, true)(ctx, t, opts)
	s := open(ctx, t, opts)
	if err := s.Write(ctx, batch(0, 3)); err != nil {
		t.Fatal(err)
	}
	if got := visibleKeys(ctx, t, opts); len(got) != 3 {
		t.Errorf("%d rows visible, want 3", len(got))
	}
}
