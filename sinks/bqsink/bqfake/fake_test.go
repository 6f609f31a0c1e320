package bqfake_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"cloud.google.com/go/bigquery/storage/managedwriter"
	"cloud.google.com/go/bigquery/storage/managedwriter/adapt"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chorusml/chorus/sinks/bqsink/bqfake"
)

const project = "fake-test"

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testSchema is a small table with a REQUIRED key, a JSON column and a
// repeated column.
func testSchema() bigquery.Schema {
	return bigquery.Schema{
		{Name: "id", Type: bigquery.StringFieldType, Required: true},
		{Name: "n", Type: bigquery.IntegerFieldType},
		{Name: "ts", Type: bigquery.TimestampFieldType},
		{Name: "labels", Type: bigquery.StringFieldType, Repeated: true},
		{Name: "doc", Type: bigquery.JSONFieldType},
	}
}

// env is a fake with a REST client and a Storage Write client.
type env struct {
	srv   *bqfake.Server
	rest  *bigquery.Client
	write *managedwriter.Client
}

func newEnv(ctx context.Context, t *testing.T) *env {
	t.Helper()
	srv := bqfake.Start(t)
	rest, err := bigquery.NewClient(ctx, project, srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rest.Close() })
	write, err := managedwriter.NewClient(context.WithoutCancel(ctx), project, srv.WriteClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { write.Close() })
	if err := rest.Dataset("ds").Create(ctx, &bigquery.DatasetMetadata{Location: "EU"}); err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, rest: rest, write: write}
}

func (e *env) table(ctx context.Context, t *testing.T, name string, withKey bool) string {
	t.Helper()
	md := &bigquery.TableMetadata{Schema: testSchema()}
	if withKey {
		md.TableConstraints = &bigquery.TableConstraints{PrimaryKey: &bigquery.PrimaryKey{Columns: []string{"id"}}}
	}
	if err := e.rest.Dataset("ds").Table(name).Create(ctx, md); err != nil {
		t.Fatalf("create table: %v", err)
	}
	return managedwriter.TableParentFromParts(project, "ds", name)
}

// descriptor is the writer schema for testSchema, plus extra fields.
func descriptor(t *testing.T, extra ...*storagepb.TableFieldSchema) (protoreflect.MessageDescriptor, *descriptorpb.DescriptorProto) {
	t.Helper()
	ts, err := adapt.BQSchemaToStorageTableSchema(testSchema())
	if err != nil {
		t.Fatal(err)
	}
	ts.Fields = append(ts.Fields, extra...)
	d, err := adapt.StorageSchemaToProto2Descriptor(ts, "root")
	if err != nil {
		t.Fatal(err)
	}
	md := d.(protoreflect.MessageDescriptor)
	dp, err := adapt.NormalizeDescriptor(md)
	if err != nil {
		t.Fatal(err)
	}
	return md, dp
}

func changeType() *storagepb.TableFieldSchema {
	return &storagepb.TableFieldSchema{Name: "_CHANGE_TYPE", Type: storagepb.TableFieldSchema_STRING, Mode: storagepb.TableFieldSchema_NULLABLE}
}

// row encodes fields (by name) with md.
func row(t *testing.T, md protoreflect.MessageDescriptor, fields map[string]any) []byte {
	t.Helper()
	m := dynamicpb.NewMessage(md)
	for name, v := range fields {
		fd := md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			t.Fatalf("no field %s", name)
		}
		switch x := v.(type) {
		case []string:
			l := m.Mutable(fd).List()
			for _, s := range x {
				l.Append(protoreflect.ValueOfString(s))
			}
		default:
			m.Set(fd, protoreflect.ValueOf(v))
		}
	}
	// AllowPartial: some tests send rows that lack a REQUIRED field.
	b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) stream(ctx context.Context, t *testing.T, opts ...managedwriter.WriterOption) *managedwriter.ManagedStream {
	t.Helper()
	ms, err := e.write.NewManagedStream(ctx, opts...)
	if err != nil {
		t.Fatalf("new managed stream: %v", err)
	}
	t.Cleanup(func() { ms.Close() })
	return ms
}

// appendRows appends and waits for the full response.
func appendRows(ctx context.Context, t *testing.T, ms *managedwriter.ManagedStream, rows [][]byte, opts ...managedwriter.AppendOption) (*storagepb.AppendRowsResponse, error) {
	t.Helper()
	res, err := ms.AppendRows(ctx, rows, opts...)
	if err != nil {
		return nil, err
	}
	return res.FullResponse(ctx)
}

func (e *env) ids(t *testing.T, table string) []string {
	t.Helper()
	rows, err := e.srv.Rows(project, "ds", table)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprint(r["id"], "=", r["n"]))
	}
	return out
}

func TestDefaultStreamCDC(t *testing.T) {
	tests := []struct {
		name     string
		withKey  bool
		cdc      bool
		writes   [][]map[string]any // one append per element
		wantErr  codes.Code         // of the first append
		wantRows []string
		wantRaw  int
	}{
		{
			name:    "plain_appends_keep_duplicates",
			withKey: true,
			writes: [][]map[string]any{
				{{"id": "a", "n": int64(1)}},
				{{"id": "a", "n": int64(2)}},
			},
			wantRows: []string{"a=1", "a=2"},
			wantRaw:  2,
		},
		{
			name:    "upsert_replaces_by_key",
			withKey: true,
			cdc:     true,
			writes: [][]map[string]any{
				{{"id": "a", "n": int64(1), "_CHANGE_TYPE": "UPSERT"}, {"id": "b", "n": int64(1), "_CHANGE_TYPE": "UPSERT"}},
				{{"id": "a", "n": int64(2), "_CHANGE_TYPE": "upsert"}},
			},
			wantRows: []string{"b=1", "a=2"},
			wantRaw:  3,
		},
		{
			name:    "delete_removes_by_key",
			withKey: true,
			cdc:     true,
			writes: [][]map[string]any{
				{{"id": "a", "n": int64(1), "_CHANGE_TYPE": "UPSERT"}, {"id": "b", "n": int64(1), "_CHANGE_TYPE": "UPSERT"}},
				{{"id": "a", "_CHANGE_TYPE": "DELETE"}},
			},
			wantRows: []string{"b=1"},
			wantRaw:  3,
		},
		{
			name:    "cdc_needs_a_primary_key",
			withKey: false,
			cdc:     true,
			writes:  [][]map[string]any{{{"id": "a", "_CHANGE_TYPE": "UPSERT"}}},
			wantErr: codes.InvalidArgument,
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			e := newEnv(ctx, t)
			name := fmt.Sprintf("t%d", i)
			tbl := e.table(ctx, t, name, tc.withKey)
			var extra []*storagepb.TableFieldSchema
			if tc.cdc {
				extra = append(extra, changeType())
			}
			md, dp := descriptor(t, extra...)
			ms := e.stream(ctx, t, managedwriter.WithDestinationTable(tbl), managedwriter.WithType(managedwriter.DefaultStream), managedwriter.WithSchemaDescriptor(dp))
			for j, w := range tc.writes {
				var data [][]byte
				for _, f := range w {
					data = append(data, row(t, md, f))
				}
				resp, err := appendRows(ctx, t, ms, data)
				if j == 0 && tc.wantErr != codes.OK {
					if status.Code(err) != tc.wantErr || len(resp.GetRowErrors()) != 0 {
						t.Fatalf("append = %v (row errors %v), want %v", err, resp.GetRowErrors(), tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("append %d: %v", j, err)
				}
				if off := resp.GetAppendResult().GetOffset(); off != nil {
					t.Errorf("default stream answered offset %v", off)
				}
			}
			if got := e.ids(t, name); !slices.Equal(got, tc.wantRows) {
				t.Errorf("rows %v, want %v", got, tc.wantRows)
			}
			raw, err := e.srv.RawRows(project, "ds", name)
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) != tc.wantRaw {
				t.Errorf("%d raw rows, want %d", len(raw), tc.wantRaw)
			}
		})
	}
}

func TestRowErrors(t *testing.T) {
	tests := []struct {
		name    string
		bad     map[string]any
		wantMsg string
	}{
		{"missing_required", map[string]any{"n": int64(1)}, "missing required field id"},
		{"timestamp_out_of_range", map[string]any{"id": "x", "ts": int64(253402300800000000)}, "out of range"},
		{"invalid_utf8", map[string]any{"id": "x\xff"}, "UTF-8"},
		{"invalid_json", map[string]any{"id": "x", "doc": "{nope"}, "JSON"},
		{"unknown_change_type", map[string]any{"id": "x", "_CHANGE_TYPE": "MERGE"}, "_CHANGE_TYPE"},
	}
	ctx := testCtx(t)
	e := newEnv(ctx, t)
	tbl := e.table(ctx, t, "rows", true)
	md, dp := descriptor(t, changeType())
	ms := e.stream(ctx, t, managedwriter.WithDestinationTable(tbl), managedwriter.WithType(managedwriter.DefaultStream), managedwriter.WithSchemaDescriptor(dp))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			good := map[string]any{"id": "good", "doc": `{"a":1}`, "_CHANGE_TYPE": "UPSERT"}
			data := [][]byte{row(t, md, good), row(t, md, tc.bad), row(t, md, good)}
			before, _ := e.srv.RawRows(project, "ds", "rows")
			resp, err := appendRows(ctx, t, ms, data)
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("append = %v, want InvalidArgument", err)
			}
			re := resp.GetRowErrors()
			if len(re) != 1 || re[0].GetIndex() != 1 || re[0].GetCode() != storagepb.RowError_FIELDS_ERROR || !strings.Contains(re[0].GetMessage(), tc.wantMsg) {
				t.Errorf("row errors %v, want one FIELDS_ERROR at 1 mentioning %q", re, tc.wantMsg)
			}
			// The whole request is rejected, good rows included.
			if after, _ := e.srv.RawRows(project, "ds", "rows"); len(after) != len(before) {
				t.Errorf("%d rows appended by a rejected request", len(after)-len(before))
			}
		})
	}
}

func TestSchemaMismatchFailsRequest(t *testing.T) {
	tests := []struct {
		name    string
		extra   []*storagepb.TableFieldSchema
		wantMsg string
	}{
		{"extra_field", []*storagepb.TableFieldSchema{{Name: "nope", Type: storagepb.TableFieldSchema_STRING, Mode: storagepb.TableFieldSchema_NULLABLE}}, "no column"},
		{"sequence_number", []*storagepb.TableFieldSchema{changeType(), {Name: "_CHANGE_SEQUENCE_NUMBER", Type: storagepb.TableFieldSchema_STRING, Mode: storagepb.TableFieldSchema_NULLABLE}}, "not implemented"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			e := newEnv(ctx, t)
			tbl := e.table(ctx, t, fmt.Sprintf("s%d", i), true)
			md, dp := descriptor(t, tc.extra...)
			ms := e.stream(ctx, t, managedwriter.WithDestinationTable(tbl), managedwriter.WithType(managedwriter.DefaultStream), managedwriter.WithSchemaDescriptor(dp))
			resp, err := appendRows(ctx, t, ms, [][]byte{row(t, md, map[string]any{"id": "a"})})
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("append = %v, want InvalidArgument mentioning %q", err, tc.wantMsg)
			}
			if len(resp.GetRowErrors()) != 0 {
				t.Errorf("row errors %v for a schema problem", resp.GetRowErrors())
			}
		})
	}
}

func TestExplicitStreams(t *testing.T) {
	ctx := testCtx(t)
	e := newEnv(ctx, t)
	md, dp := descriptor(t)
	r := func(id string) [][]byte { return [][]byte{row(t, md, map[string]any{"id": id})} }

	t.Run("committed_offsets", func(t *testing.T) {
		ctx := testCtx(t)
		tbl := e.table(ctx, t, "committed", false)
		ms := e.stream(ctx, t, managedwriter.WithDestinationTable(tbl), managedwriter.WithType(managedwriter.CommittedStream), managedwriter.WithSchemaDescriptor(dp))
		resp, err := appendRows(ctx, t, ms, r("a"), managedwriter.WithOffset(0))
		if err != nil || resp.GetAppendResult().GetOffset().GetValue() != 0 {
			t.Fatalf("append at 0 = %v, %v", resp, err)
		}
		if _, err := appendRows(ctx, t, ms, r("b"), managedwriter.WithOffset(0)); status.Code(err) != codes.AlreadyExists {
			t.Errorf("append at 0 again = %v, want AlreadyExists", err)
		}
		if _, err := appendRows(ctx, t, ms, r("c"), managedwriter.WithOffset(5)); status.Code(err) != codes.OutOfRange {
			t.Errorf("append at 5 = %v, want OutOfRange", err)
		}
		if got := e.ids(t, "committed"); !slices.Equal(got, []string{"a=<nil>"}) {
			t.Errorf("rows %v, want [a]", got)
		}
		if n, err := ms.Finalize(ctx); err != nil || n != 1 {
			t.Errorf("finalize = %d, %v", n, err)
		}
		if _, err := appendRows(ctx, t, ms, r("d"), managedwriter.WithOffset(1)); status.Code(err) != codes.InvalidArgument {
			t.Errorf("append after finalize = %v, want InvalidArgument", err)
		}
	})

	t.Run("pending_until_commit", func(t *testing.T) {
		ctx := testCtx(t)
		tbl := e.table(ctx, t, "pending", false)
		ms := e.stream(ctx, t, managedwriter.WithDestinationTable(tbl), managedwriter.WithType(managedwriter.PendingStream), managedwriter.WithSchemaDescriptor(dp))
		if _, err := appendRows(ctx, t, ms, r("a")); err != nil {
			t.Fatal(err)
		}
		if got := e.ids(t, "pending"); len(got) != 0 {
			t.Errorf("rows %v visible before commit", got)
		}
		commit := func() *storagepb.BatchCommitWriteStreamsResponse {
			resp, err := e.write.BatchCommitWriteStreams(ctx, &storagepb.BatchCommitWriteStreamsRequest{Parent: tbl, WriteStreams: []string{ms.StreamName()}})
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		if resp := commit(); len(resp.GetStreamErrors()) != 1 || resp.GetStreamErrors()[0].GetCode() != storagepb.StorageError_INVALID_STREAM_STATE {
			t.Errorf("commit before finalize = %v, want INVALID_STREAM_STATE", resp)
		}
		if _, err := ms.Finalize(ctx); err != nil {
			t.Fatal(err)
		}
		if resp := commit(); len(resp.GetStreamErrors()) != 0 || resp.GetCommitTime() == nil {
			t.Errorf("commit = %v", resp)
		}
		if got := e.ids(t, "pending"); !slices.Equal(got, []string{"a=<nil>"}) {
			t.Errorf("rows %v after commit, want [a]", got)
		}
		raw, _ := e.srv.RawRows(project, "ds", "pending")
		if len(raw) != 1 || !raw[0].Visible {
			t.Errorf("raw rows %+v", raw)
		}
	})

	t.Run("cdc_only_on_default_stream", func(t *testing.T) {
		ctx := testCtx(t)
		tbl := e.table(ctx, t, "cdc_committed", true)
		md, dp := descriptor(t, changeType())
		ms := e.stream(ctx, t, managedwriter.WithDestinationTable(tbl), managedwriter.WithType(managedwriter.CommittedStream), managedwriter.WithSchemaDescriptor(dp))
		_, err := appendRows(ctx, t, ms, [][]byte{row(t, md, map[string]any{"id": "a", "_CHANGE_TYPE": "UPSERT"})})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("CDC on a committed stream = %v, want InvalidArgument", err)
		}
	})
}

// TestConnectionMemory drives AppendRows with the raw gRPC client, to show
// what one connection remembers between requests.
func TestConnectionMemory(t *testing.T) {
	ctx := testCtx(t)
	e := newEnv(ctx, t)
	tblA := e.table(ctx, t, "a", false)
	tblB := e.table(ctx, t, "b", false)
	md, dp := descriptor(t)
	conn, err := grpc.NewClient(e.srv.GRPCEndpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := storagepb.NewBigQueryWriteClient(conn)
	rows := func(id string, withSchema bool) *storagepb.AppendRowsRequest_ProtoRows {
		pd := &storagepb.AppendRowsRequest_ProtoData{Rows: &storagepb.ProtoRows{SerializedRows: [][]byte{row(t, md, map[string]any{"id": id})}}}
		if withSchema {
			pd.WriterSchema = &storagepb.ProtoSchema{ProtoDescriptor: dp}
		}
		return &storagepb.AppendRowsRequest_ProtoRows{ProtoRows: pd}
	}

	t.Run("first_request_needs_stream", func(t *testing.T) {
		ctx := testCtx(t)
		stream, err := client.AppendRows(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&storagepb.AppendRowsRequest{Rows: rows("x", true)}); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("recv = %v, want InvalidArgument", err)
		}
	})

	t.Run("stream_schema_and_trace_remembered", func(t *testing.T) {
		ctx := testCtx(t)
		stream, err := client.AppendRows(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reqs := []*storagepb.AppendRowsRequest{
			{WriteStream: tblA + "/streams/_default", TraceId: "trace-1", Rows: rows("a1", true)},
			{Rows: rows("a2", false)}, // all remembered
			{WriteStream: tblB + "/streams/_default", Rows: rows("b1", false)}, // switched: schema must come again
			{WriteStream: tblB + "/streams/_default", Rows: rows("b2", true)},
			{Offset: wrapperspb.Int64(3), Rows: rows("b3", false)}, // no offsets on _default
		}
		wantOK := []bool{true, true, false, true, false}
		for i, req := range reqs {
			if err := stream.Send(req); err != nil {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			if ok := resp.GetError() == nil; ok != wantOK[i] {
				t.Errorf("request %d: error %v, want ok=%v", i, resp.GetError(), wantOK[i])
			}
		}
		_ = stream.CloseSend()
		for table, want := range map[string][]string{"a": {"a1", "a2"}, "b": {"b2"}} {
			raw, err := e.srv.RawRows(project, "ds", table)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range raw {
				ids = append(ids, r.Row["id"].(string))
				if r.TraceID != "trace-1" {
					t.Errorf("row %v has trace %q, want trace-1 (remembered)", r.Row["id"], r.TraceID)
				}
			}
			if !slices.Equal(ids, want) {
				t.Errorf("table %s rows %v, want %v", table, ids, want)
			}
		}
	})
}

func TestGetWriteStream(t *testing.T) {
	ctx := testCtx(t)
	e := newEnv(ctx, t)
	tbl := e.table(ctx, t, "gws", false)
	tests := []struct {
		name     string
		stream   string
		wantCode codes.Code
	}{
		{"default_stream_of_a_table", tbl + "/streams/_default", codes.OK},
		{"missing_table", managedwriter.TableParentFromParts(project, "ds", "nope") + "/streams/_default", codes.NotFound},
		{"missing_stream", tbl + "/streams/nope", codes.NotFound},
		{"bad_name", "tables/x", codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			ws, err := e.write.GetWriteStream(ctx, &storagepb.GetWriteStreamRequest{Name: tc.stream, View: storagepb.WriteStreamView_FULL})
			if status.Code(err) != tc.wantCode {
				t.Fatalf("get = %v, want %v", err, tc.wantCode)
			}
			if err != nil {
				return
			}
			if ws.GetLocation() != "EU" || ws.GetType() != storagepb.WriteStream_COMMITTED || len(ws.GetTableSchema().GetFields()) != len(testSchema()) {
				t.Errorf("stream %v", ws)
			}
		})
	}
}

func TestReactors(t *testing.T) {
	ctx := testCtx(t)
	e := newEnv(ctx, t)
	tbl := e.table(ctx, t, "r", false)
	var seen []string
	e.srv.AddReactor(bqfake.RPCGetWriteStream, bqfake.ReactorFunc(func(req any) (bool, any, error) {
		seen = append(seen, req.(*storagepb.GetWriteStreamRequest).GetName())
		return true, nil, nil // watched, not answered
	}))
	e.srv.AddReactor(bqfake.RPCGetWriteStream, bqfake.ReactorFunc(func(any) (bool, any, error) {
		return true, nil, status.Error(codes.PermissionDenied, "injected")
	}))
	_, err := e.write.GetWriteStream(ctx, &storagepb.GetWriteStreamRequest{Name: tbl + "/streams/_default"})
	if status.Code(err) != codes.PermissionDenied || len(seen) != 1 {
		t.Errorf("get = %v after %d looks, want PermissionDenied after 1", err, len(seen))
	}
	e.srv.ClearReactors()
	if _, err := e.write.GetWriteStream(ctx, &storagepb.GetWriteStreamRequest{Name: tbl + "/streams/_default"}); err != nil {
		t.Errorf("get after ClearReactors = %v", err)
	}

	e.srv.AddReactor(bqfake.RESTTablesGet, bqfake.ReactorFunc(func(req any) (bool, any, error) {
		c := req.(*bqfake.RESTCall)
		if c.Table != "r" {
			return false, nil, nil
		}
		return true, nil, &googleapi.Error{Code: http.StatusForbidden, Message: "injected", Errors: []googleapi.ErrorItem{{Reason: "accessDenied"}}}
	}))
	defer e.srv.ClearReactors()
	_, err = e.rest.Dataset("ds").Table("r").Metadata(ctx)
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != http.StatusForbidden || len(ge.Errors) == 0 || ge.Errors[0].Reason != "accessDenied" {
		t.Errorf("tables.get = %v, want 403 accessDenied", err)
	}
}

func TestREST(t *testing.T) {
	ctx := testCtx(t)
	e := newEnv(ctx, t)
	tbl := e.table(ctx, t, "read", true)
	md, dp := descriptor(t)
	ms := e.stream(ctx, t, managedwriter.WithDestinationTable(tbl), managedwriter.WithType(managedwriter.DefaultStream), managedwriter.WithSchemaDescriptor(dp))
	var data [][]byte
	for i := range 5 {
		data = append(data, row(t, md, map[string]any{"id": fmt.Sprint("r", i), "n": int64(i), "ts": int64(1_700_000_000_000_000 + i), "labels": []string{"x", "y"}}))
	}
	if _, err := appendRows(ctx, t, ms, data); err != nil {
		t.Fatal(err)
	}
	e.table(ctx, t, "empty", false)

	httpErr := func(err error) (int, string) {
		var ge *googleapi.Error
		if !errors.As(err, &ge) {
			return 0, ""
		}
		if len(ge.Errors) == 0 {
			return ge.Code, ""
		}
		return ge.Code, ge.Errors[0].Reason
	}
	t.Run("errors", func(t *testing.T) {
		ctx := testCtx(t)
		tests := []struct {
			name       string
			call       func() error
			wantCode   int
			wantReason string
		}{
			{"dataset_exists", func() error { return e.rest.Dataset("ds").Create(ctx, nil) }, 409, "duplicate"},
			{"dataset_missing", func() error { _, err := e.rest.Dataset("nope").Metadata(ctx); return err }, 404, "notFound"},
			{"table_exists", func() error {
				return e.rest.Dataset("ds").Table("read").Create(ctx, &bigquery.TableMetadata{Schema: testSchema()})
			}, 409, "duplicate"},
			{"table_missing", func() error { _, err := e.rest.Dataset("ds").Table("nope").Metadata(ctx); return err }, 404, "notFound"},
			{"table_in_missing_dataset", func() error {
				return e.rest.Dataset("nope").Table("t").Create(ctx, &bigquery.TableMetadata{Schema: testSchema()})
			}, 404, "notFound"},
			{"partition_on_string", func() error {
				return e.rest.Dataset("ds").Table("p1").Create(ctx, &bigquery.TableMetadata{Schema: testSchema(), TimePartitioning: &bigquery.TimePartitioning{Field: "id"}})
			}, 400, "invalid"},
			{"cluster_on_missing", func() error {
				return e.rest.Dataset("ds").Table("p2").Create(ctx, &bigquery.TableMetadata{Schema: testSchema(), Clustering: &bigquery.Clustering{Fields: []string{"zzz"}}})
			}, 400, "invalid"},
			{"key_on_repeated", func() error {
				return e.rest.Dataset("ds").Table("p3").Create(ctx, &bigquery.TableMetadata{Schema: testSchema(),
					TableConstraints: &bigquery.TableConstraints{PrimaryKey: &bigquery.PrimaryKey{Columns: []string{"labels"}}}})
			}, 400, "invalid"},
			{"unsupported_query", func() error { _, err := e.rest.Query("SELECT 1").Read(ctx); return err }, 400, "invalid"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				code, reason := httpErr(tc.call())
				if code != tc.wantCode || reason != tc.wantReason {
					t.Errorf("got %d %q, want %d %q", code, reason, tc.wantCode, tc.wantReason)
				}
			})
		}
	})

	t.Run("reads", func(t *testing.T) {
		type rec struct {
			ID     string    `bigquery:"id"`
			N      int64     `bigquery:"n"`
			TS     time.Time `bigquery:"ts"`
			Labels []string  `bigquery:"labels"`
		}
		readAll := func(t *testing.T, it *bigquery.RowIterator) []rec {
			t.Helper()
			var out []rec
			for {
				var r rec
				err := it.Next(&r)
				if errors.Is(err, iterator.Done) {
					return out
				}
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, r)
			}
		}
		tests := []struct {
			name  string
			it    func(ctx context.Context) (*bigquery.RowIterator, error)
			wantN int
		}{
			{"query", func(ctx context.Context) (*bigquery.RowIterator, error) {
				return e.rest.Query("SELECT * FROM `" + project + ".ds.read`").Read(ctx)
			}, 5},
			{"query_without_project", func(ctx context.Context) (*bigquery.RowIterator, error) {
				return e.rest.Query("select * from ds.read;").Read(ctx)
			}, 5},
			{"query_of_empty_table", func(ctx context.Context) (*bigquery.RowIterator, error) {
				return e.rest.Query("SELECT * FROM `" + project + ".ds.empty`").Read(ctx)
			}, 0},
			{"tabledata_list_in_pages", func(ctx context.Context) (*bigquery.RowIterator, error) {
				it := e.rest.Dataset("ds").Table("read").Read(ctx)
				it.PageInfo().MaxSize = 2
				return it, nil
			}, 5},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ctx := testCtx(t)
				it, err := tc.it(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got := readAll(t, it)
				if len(got) != tc.wantN {
					t.Fatalf("%d rows, want %d", len(got), tc.wantN)
				}
				for i, r := range got {
					want := rec{ID: fmt.Sprint("r", i), N: int64(i), TS: time.UnixMicro(1_700_000_000_000_000 + int64(i)).UTC(), Labels: []string{"x", "y"}}
					if r.ID != want.ID || r.N != want.N || !r.TS.Equal(want.TS) || !slices.Equal(r.Labels, want.Labels) {
						t.Errorf("row %d = %+v, want %+v", i, r, want)
					}
				}
			})
		}
	})

	t.Run("table_metadata", func(t *testing.T) {
		ctx := testCtx(t)
		tm, err := e.rest.Dataset("ds").Table("read").Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tm.NumRows != 5 || tm.Location != "EU" || tm.TableConstraints == nil || !slices.Equal(tm.TableConstraints.PrimaryKey.Columns, []string{"id"}) {
			t.Errorf("metadata rows=%d location=%q constraints=%+v", tm.NumRows, tm.Location, tm.TableConstraints)
		}
	})

	t.Run("delete", func(t *testing.T) {
		ctx := testCtx(t)
		if err := e.rest.Dataset("ds").Table("empty").Delete(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.srv.Tables(project, "ds"); slices.Contains(got, "empty") {
			t.Errorf("tables %v after delete", got)
		}
		if err := e.rest.Dataset("ds").Delete(ctx); err == nil {
			t.Error("deleting a dataset with tables succeeded")
		}
		if err := e.rest.Dataset("ds").DeleteWithContents(ctx); err != nil {
			t.Errorf("delete with contents: %v", err)
		}
	})
}
