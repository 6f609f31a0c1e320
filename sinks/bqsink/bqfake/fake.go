// Package bqfake is an in-process fake of the two BigQuery wire protocols
// the real Go clients speak, so that tests run those clients unchanged, with
// no project, credentials or network:
//
//   - the Storage Write API (gRPC BigQueryWrite, used by
//     cloud.google.com/go/bigquery/storage/managedwriter): GetWriteStream
//     (including every table's _default stream, which nobody creates),
//     CreateWriteStream (COMMITTED and PENDING), AppendRows,
//     FinalizeWriteStream and BatchCommitWriteStreams;
//   - the REST API (cloud.google.com/go/bigquery) for what a sink needs:
//     datasets insert/get/delete, tables insert/get/delete, tabledata.list,
//     and jobs.query / jobs.getQueryResults for one statement,
//     SELECT * FROM `project.dataset.table`.
//
// Both listen on loopback TCP, so a child process can reach them too.
//
// # AppendRows
//
// One AppendRows call is one bidi connection. The first request names the
// write stream and carries the writer schema and trace id; later requests
// may omit all three, so the fake remembers them per connection (a request
// naming another stream switches to it, and must bring its schema again,
// as in the client's multiplex mode). Rows are decoded with the writer
// schema (a proto2 DescriptorProto wrapped in a FileDescriptorProto,
// protodesc, dynamicpb) and checked against the table:
//
//   - schema problems fail the whole request in-band with InvalidArgument:
//     a field with no column, a type that cannot go in the column's type, a
//     repeated field for a single column or the reverse, a REQUIRED column
//     the writer schema lacks;
//   - row problems become AppendRowsResponse.row_errors (FIELDS_ERROR, by
//     index in the request) with an InvalidArgument error, and, as in
//     BigQuery, none of the request's rows are appended: a missing REQUIRED
//     field, a TIMESTAMP or DATE out of range, a string that is not UTF-8,
//     a JSON column that is not JSON, an unknown _CHANGE_TYPE;
//   - offsets are checked on created streams: an offset already written is
//     ALREADY_EXISTS, one past the end OUT_OF_RANGE, both in-band.
//
// COMMITTED streams (and _default) make rows visible when acknowledged;
// PENDING streams hold them until the stream is finalized and committed.
//
// # Change data capture
//
// A table created with a primary key takes BigQuery CDC writes: rows whose
// _CHANGE_TYPE is UPSERT replace every visible row with the same key, DELETE
// removes them, in the order the fake acknowledges them (BigQuery's order
// without _CHANGE_SEQUENCE_NUMBER: ingestion time). Rows without
// _CHANGE_TYPE are plain appends, duplicates included, as the key is NOT
// ENFORCED. As in BigQuery, _CHANGE_TYPE is refused on a table without a
// primary key and on any stream but _default.
//
// What the fake does not do, and only a real project shows: it applies
// changes at once, so reads are never stale (a real table with
// max_staleness may lag by up to that much; the option is stored and
// returned, not enforced), and tabledata.list shows the same applied rows
// as a query (on a real CDC table, only queries are documented to merge
// pending changes; read through a query); _CHANGE_SEQUENCE_NUMBER, BUFFERED
// streams, FlushRows and Arrow rows are refused, missing-value
// interpretations and schema updates on the fly ignored; SQL is one
// statement; DATETIME, TIME, NUMERIC, BIGNUMERIC, GEOGRAPHY and RANGE values
// are stored unchecked; quotas, request size limits, IAM, locations beyond
// a label, and the latency, retries and reconnects of a real service are
// absent. Whether real BigQuery reports a given bad value as a row error or
// rejects the request is the fake's best reading of the documentation.
//
// # Faults
//
// AddReactor installs a hook, in the manner of pstest's, that sees each
// request of one RPC first and may answer it or fail it: on AppendRows, a
// returned *storagepb.AppendRowsResponse is sent in-band and an error ends
// the connection with that status. Mind the clients' own retries: the REST
// client retries 500, 502, 503, 504 and the reasons backendError and
// rateLimitExceeded, the gRPC client retries Unavailable on unary calls for
// minutes; bound such tests with a context deadline, or inject NotFound,
// InvalidArgument, PermissionDenied or a 4xx.
//
// RawRows lists every row of every accepted append, visible or not (yet);
// Rows lists what a query returns.
//
// # Reaching it from a child process
//
// Give the child both endpoints, a literal project id and no credentials:
// REST at RESTEndpoint() ("http://127.0.0.1:PORT"; paths come without
// /bigquery/v2) and Storage Write at GRPCEndpoint() ("127.0.0.1:PORT",
// plaintext gRPC). For chorus, that is sink.bigquery.rest_endpoint and
// sink.bigquery.endpoint; bqsink.EndpointOptions turns two loopback
// endpoints into the options ClientOptions() and WriteClientOptions()
// return here (endpoint, no authentication, insecure transport).
package bqfake

import (
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Reactor sees a request before the fake handles it. handled=false lets
// the fake handle it; otherwise err fails the call (a gRPC status error,
// or a *googleapi.Error for REST calls; any other error is Unknown / 500)
// and ret, if not nil, is the response (on AppendRows, an
// *storagepb.AppendRowsResponse sent in-band). A Reactor that returns
// handled with neither lets the request through, having seen it.
//
// gRPC reactors get the request message; REST reactors get a *RESTCall.
type Reactor interface {
	React(req any) (handled bool, ret any, err error)
}

// ReactorFunc adapts a function to Reactor.
type ReactorFunc func(req any) (handled bool, ret any, err error)

// React implements Reactor.
func (f ReactorFunc) React(req any) (bool, any, error) { return f(req) }

// RPC names for AddReactor.
const (
	RPCGetWriteStream          = "GetWriteStream"
	RPCCreateWriteStream       = "CreateWriteStream"
	RPCAppendRows              = "AppendRows"
	RPCFinalizeWriteStream     = "FinalizeWriteStream"
	RPCBatchCommitWriteStreams = "BatchCommitWriteStreams"

	RESTDatasetsInsert      = "datasets.insert"
	RESTDatasetsGet         = "datasets.get"
	RESTDatasetsDelete      = "datasets.delete"
	RESTTablesInsert        = "tables.insert"
	RESTTablesGet           = "tables.get"
	RESTTablesDelete        = "tables.delete"
	RESTTabledataList       = "tabledata.list"
	RESTJobsQuery           = "jobs.query"
	RESTJobsGetQueryResults = "jobs.getQueryResults"
)

// RESTCall is what a REST reactor sees.
type RESTCall struct {
	Op                      string // one of the REST* names
	Project, Dataset, Table string
	JobID                   string
	// Body is the decoded request body, if any (*bigquery.Table,
	// *bigquery.Dataset, *bigquery.QueryRequest from
	// google.golang.org/api/bigquery/v2).
	Body any
}

// Row is one table row: column name → value. Values are string, int64,
// float64, bool, []byte, time.Time (TIMESTAMP, in UTC), Row (RECORD) and
// []any (REPEATED); a NULL column is absent.
type Row map[string]any

// RawRow is a row as it was appended.
type RawRow struct {
	Row Row
	// ChangeType is the _CHANGE_TYPE it carried ("" for a plain append).
	ChangeType string
	// Stream is the write stream it was appended to; TraceID the trace id
	// of its connection.
	Stream, TraceID string
	// Visible is false while the row waits in an uncommitted PENDING
	// stream.
	Visible bool
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	mu       sync.Mutex
	datasets map[string]*dataset // by project + "." + dataset
	streams  map[string]*stream  // created write streams by name
	jobs     map[string]*queryJob
	jobOrder []string
	reactors map[string][]Reactor
	seq      int64

	grpcLis, restLis net.Listener
	grpcSrv          *grpc.Server
	httpSrv          *http.Server
	closeOnce        sync.Once
}

// New starts a fake on two free loopback ports. Close stops it.
func New() (*Server, error) {
	s := &Server{
		datasets: map[string]*dataset{},
		streams:  map[string]*stream{},
		jobs:     map[string]*queryJob{},
		reactors: map[string][]Reactor{},
	}
	var err error
	if s.grpcLis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("bqfake: listen: %w", err)
	}
	if s.restLis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		s.grpcLis.Close()
		return nil, fmt.Errorf("bqfake: listen: %w", err)
	}
	s.grpcSrv = grpc.NewServer()
	storagepb.RegisterBigQueryWriteServer(s.grpcSrv, &writeService{s: s})
	s.httpSrv = &http.Server{Handler: s.restHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.grpcSrv.Serve(s.grpcLis) }()
	go func() { _ = s.httpSrv.Serve(s.restLis) }()
	return s, nil
}

// Start starts a fake that stops when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops both listeners and ends every connection.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.grpcSrv.Stop()
		_ = s.httpSrv.Close()
	})
}

// RESTEndpoint is the REST base URL, "http://127.0.0.1:PORT".
func (s *Server) RESTEndpoint() string { return "http://" + s.restLis.Addr().String() }

// GRPCEndpoint is the Storage Write address, "127.0.0.1:PORT" (plaintext).
func (s *Server) GRPCEndpoint() string { return s.grpcLis.Addr().String() }

// ClientOptions configure cloud.google.com/go/bigquery to use the fake.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(s.RESTEndpoint()), option.WithoutAuthentication()}
}

// WriteClientOptions configure managedwriter to use the fake.
func (s *Server) WriteClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.GRPCEndpoint()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// AddReactor adds r to the reactors of rpc (an RPC* or REST* name). They
// run in the order added; the first that handles a request wins.
func (s *Server) AddReactor(rpc string, r Reactor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reactors[rpc] = append(s.reactors[rpc], r)
}

// ClearReactors removes every reactor.
func (s *Server) ClearReactors() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.reactors)
}

// react runs the reactors of rpc on req, outside the server lock.
func (s *Server) react(rpc string, req any) (bool, any, error) {
	s.mu.Lock()
	rs := append([]Reactor(nil), s.reactors[rpc]...)
	s.mu.Unlock()
	for _, r := range rs {
		handled, ret, err := r.React(req)
		if handled && (ret != nil || err != nil) {
			return true, ret, err
		}
	}
	return false, nil, nil
}

// CreateDataset creates a dataset, as datasets.insert would; location ""
// is "US".
func (s *Server) CreateDataset(project, datasetID, location string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.createDatasetLocked(project, datasetID, location, "")
	return err
}

// Rows returns the rows a query of the table returns now, in the order
// they were last written.
func (s *Server) Rows(project, datasetID, tableID string) ([]Row, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.tableLocked(project, datasetID, tableID)
	if err != nil {
		return nil, err
	}
	recs := t.visibleRows()
	out := make([]Row, len(recs))
	for i, r := range recs {
		out[i] = toRow(t.cols, r)
	}
	return out, nil
}

// RawRows returns every row appended to the table, in order, including
// rows CDC has replaced and rows waiting in PENDING streams; rows of
// rejected requests never arrive.
func (s *Server) RawRows(project, datasetID, tableID string) ([]RawRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.tableLocked(project, datasetID, tableID)
	if err != nil {
		return nil, err
	}
	out := make([]RawRow, len(t.raw))
	for i, r := range t.raw {
		out[i] = RawRow{Row: toRow(t.cols, r.rec), ChangeType: r.change, Stream: r.stream, TraceID: r.traceID, Visible: *r.visible}
	}
	return out, nil
}

// Tables lists the tables of a dataset, sorted.
func (s *Server) Tables(project, datasetID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.datasets[project+"."+datasetID]
	if ds == nil {
		return nil
	}
	var out []string
	for id := range ds.tables {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (s *Server) nextSeq() int64 {
	s.seq++
	return s.seq
}
