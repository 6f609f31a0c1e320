// Package bqsink is a sink driver that writes results to a BigQuery table
// through the Storage Write API (cloud.google.com/go/bigquery/storage/managedwriter),
// and creates that table with Migrate (`chorus migrate`) through the REST
// API (cloud.google.com/go/bigquery).
//
// # Idempotency: BigQuery change data capture
//
// A redelivered batch must never leave a duplicate visible row. This driver
// uses BigQuery CDC: the table declares PRIMARY KEY (tenant, response_id,
// pipeline_version) NOT ENFORCED, and every row is appended on the table's
// default stream with the _CHANGE_TYPE pseudo-column set to UPSERT. BigQuery
// applies the upserts by key, so writing a key again replaces its row in
// what every query returns: a redelivery, a retry after an ambiguous
// failure, or two workers writing the same job all converge on one row,
// with nothing to run afterwards.
//
// Why CDC rather than append plus a dedup view or a periodic MERGE: the
// table itself is the answer (no view for readers to remember, no MERGE job
// to schedule, pay for and monitor, no window in which the base table shows
// duplicates), and the default stream it requires is also the simplest
// stream to write: always there, shared by concurrent appends, committed on
// acknowledgement.
//
// What CDC requires and limits, and how this package meets them:
//
//   - Appends on the default stream only, protobuf rows only: Write uses one
//     default-stream ManagedStream, shared by all Writes.
//   - A primary key (at most 16 columns): Migrate declares it; Open refuses a
//     table without it, since upserts there would fail or, worse, append.
//   - Ordering: without _CHANGE_SEQUENCE_NUMBER, BigQuery orders changes to
//     one key by ingestion time, so the last acknowledged write wins, as
//     the sinks.Sink contract says. Write therefore never sends two rows with
//     the same key in one request: the second occurrence goes in a later
//     append, after the first is acknowledged. Writes of one key that run
//     concurrently have no defined order (nor do they in any sink).
//   - max_staleness: Options.MaxStaleness sets it. Zero (the default) leaves
//     it unset, and every query merges pending changes first: reads are
//     exact the moment Write returns, at a higher query cost. A positive
//     value makes queries cheaper but up to that much stale (still one row
//     per key, only an older version of it).
//   - A CDC table refuses mutating DML (UPDATE, DELETE, MERGE), wildcard
//     queries and search indexes; table copies, clones, snapshots, the
//     Storage Read API and require_partition_filter conflict with runtime
//     merges. Migrate leaves require_partition_filter off.
//   - Partitioning (DAY on scored_at) and clustering (tenant) are allowed.
//     The key does not include scored_at, so a rescored job whose scored_at
//     moves to another day still replaces its row; applying such upserts
//     cannot be pruned to one partition.
//
// # Writes
//
// Write encodes rows with a proto2 descriptor built from Schema() plus
// _CHANGE_TYPE, appends them (one request, or several of at most 9 MiB
// each, under the API's request size limit, pipelined on one connection)
// and waits for every append's result before it returns: nil means
// BigQuery acknowledged every row.
//
// Row errors: when BigQuery finds bad rows in a request it rejects the whole
// request and lists them in AppendRowsResponse.row_errors. Write maps those
// back to the batch by index (sinks.RowErrors, errkind.InvalidInput, reason
// row_rejected) and resends the other rows, so the good rows are committed
// as the sinks.Sink contract asks. The row list may be incomplete, so this
// repeats while a resend still names bad rows; every pass removes at least
// one row, so it ends. Rows the driver refuses itself (empty key field,
// NaN or infinite score, as the other sinks do) are reported the same way,
// reason invalid_row, and never sent.
//
// Atomicity: one append request is atomic. A batch that needs more than one
// (over 9 MiB, or repeating a key) is not: a failure part way leaves the
// earlier appends committed. Since every write is an upsert, the worker's
// retry of the whole batch converges.
//
// Errors are classified with errkind through a table of gRPC codes (appends)
// and of googleapi errors (REST). The driver does not retry: the client
// library's own retries are left at their defaults (write retries off) and
// retry lives in the worker.
//
// # Testing
//
// Package bqfake is an in-process fake of both APIs, driven by the real
// clients; EmulatorOptions connects a Sink (or a chorus child process) to
// it. See bqfake's documentation for what it covers and what only a real
// project shows.
package bqsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"cloud.google.com/go/bigquery/storage/managedwriter"
	"google.golang.org/api/option"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/internal/inflight"
	"github.com/chorusml/chorus/worker/errkind"
)

// Defaults for Options.
const (
	DefaultTable    = "chorus_results"
	DefaultLocation = "US"
)

// maxRequestBytes keeps each AppendRows request under the API's size limit
// (10 MB in the client's documentation, 20 MB in the API's), with room for
// the descriptor and framing.
const maxRequestBytes = 9 << 20

// Options configures a Sink and Migrate.
type Options struct {
	// Project and Dataset are required. Table defaults to DefaultTable.
	Project, Dataset, Table string
	// Location is where Migrate creates the dataset; default DefaultLocation.
	// Migrate fails if the dataset exists elsewhere.
	Location string
	// MaxStaleness sets the table's max_staleness when Migrate creates it.
	// Zero leaves it unset: every query sees every acknowledged write.
	MaxStaleness time.Duration
	// ClientOptions configure the REST client (Migrate, Open's table check,
	// ReadAll); WriteClientOptions the Storage Write (gRPC) client. Without
	// them the clients use Application Default Credentials and Google's
	// endpoints. See EmulatorOptions.
	ClientOptions      []option.ClientOption
	WriteClientOptions []option.ClientOption
}

func (o Options) withDefaults() (Options, error) {
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if o.Location == "" {
		o.Location = DefaultLocation
	}
	if o.Project == "" || o.Dataset == "" {
		return o, errkind.Errorf(errkind.Permanent, ReasonBadOptions, "bqsink: Options.Project and Options.Dataset are required")
	}
	if o.MaxStaleness < 0 {
		return o, errkind.Errorf(errkind.Permanent, ReasonBadOptions, "bqsink: Options.MaxStaleness is negative")
	}
	return o, nil
}

// tablePath is the table's resource name in the Storage Write API.
func (o Options) tablePath() string {
	return managedwriter.TableParentFromParts(o.Project, o.Dataset, o.Table)
}

// Sink writes results to one BigQuery table. It implements sinks.Sink and
// is safe for concurrent use: all Writes share one default-stream
// connection.
type Sink struct {
	opts   Options
	client *managedwriter.Client
	stream *managedwriter.ManagedStream
	enc    *encoder
	// maxRequest bounds the encoded rows of one AppendRows request.
	maxRequest int

	writes inflight.Tracker
}

var _ sinks.Sink = (*Sink)(nil)

// Open checks that the table exists and is fit for CDC upserts (see
// Migrate), then opens the default write stream. ctx bounds Open only: the
// clients keep running until Close.
func Open(ctx context.Context, opts Options) (*Sink, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkTable(ctx, opts); err != nil {
		return nil, err
	}
	md, dp, err := writerDescriptor()
	if err != nil {
		return nil, fmt.Errorf("bqsink: writer schema: %w", err)
	}
	enc, err := newEncoder(md)
	if err != nil {
		return nil, fmt.Errorf("bqsink: writer schema: %w", err)
	}

	// managedwriter keeps the contexts it is given for its connections, so
	// they must outlive Open. setup is cancelled only if ctx ends while
	// the stream is being set up.
	keep := context.WithoutCancel(ctx)
	client, err := managedwriter.NewClient(keep, opts.Project, opts.WriteClientOptions...)
	if err != nil {
		return nil, classify("open write client", err)
	}
	setup, cancelSetup := context.WithCancel(keep)
	stop := context.AfterFunc(ctx, cancelSetup)
	ms, err := client.NewManagedStream(setup,
		managedwriter.WithDestinationTable(opts.tablePath()),
		managedwriter.WithType(managedwriter.DefaultStream),
		managedwriter.WithSchemaDescriptor(dp),
		managedwriter.WithTraceID("chorus"),
	)
	if !stop() {
		// ctx ended during set-up: the stream, if any, is cancelled too.
		if err == nil {
			_ = ms.Close()
		}
		_ = client.Close()
		return nil, fmt.Errorf("bqsink: open %s: %w", opts.tablePath(), ctx.Err())
	}
	if err != nil {
		_ = client.Close()
		return nil, classify("open "+opts.tablePath(), err)
	}
	return &Sink{opts: opts, client: client, stream: ms, enc: enc, maxRequest: maxRequestBytes}, nil
}

// Write implements sinks.Sink; see the package documentation for how rows
// become upserts and how row errors are reported. If ctx ends while an
// append is in flight, Write returns the context's error and the append may
// still land: the caller's retry rewrites the same keys.
func (s *Sink) Write(ctx context.Context, rows []sinks.Result) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bqsink: write: %w", err)
	}
	if !s.writes.Enter() {
		return errkind.New(errkind.Permanent, sinks.ReasonClosed, fmt.Errorf("bqsink: write: %w", sinks.ErrClosed))
	}
	defer s.writes.Leave()

	var rowErrs sinks.RowErrors
	valid := make([]int, 0, len(rows))
	for i := range rows {
		if err := sinks.CheckRow(&rows[i]); err != nil {
			rowErrs = append(rowErrs, sinks.RowError{Index: i, Err: err})
			continue
		}
		valid = append(valid, i)
	}
	for _, round := range rounds(rows, valid) {
		if err := s.appendAll(ctx, rows, round, &rowErrs); err != nil {
			return err
		}
	}
	if len(rowErrs) == 0 {
		return nil
	}
	slices.SortFunc(rowErrs, func(a, b sinks.RowError) int { return a.Index - b.Index })
	return rowErrs
}

// rounds splits the valid row indexes into groups with distinct keys, in
// batch order: the n-th occurrence of a key goes in round n. Almost every
// batch is one round.
func rounds(rows []sinks.Result, valid []int) [][]int {
	seen := make(map[sinks.Key]int, len(valid))
	var out [][]int
	for _, i := range valid {
		k := rows[i].Key()
		n := seen[k]
		seen[k] = n + 1
		if n == len(out) {
			out = append(out, make([]int, 0, len(valid)/(n+1)))
		}
		out[n] = append(out[n], i)
	}
	return out
}

// appendAll appends rows[idx...] and waits until all are acknowledged.
// Rows BigQuery rejects are added to rowErrs, and the other rows of their
// requests sent again.
func (s *Sink) appendAll(ctx context.Context, rows []sinks.Result, idx []int, rowErrs *sinks.RowErrors) error {
	for len(idx) > 0 {
		rejected, resend, err := s.appendOnce(ctx, rows, idx)
		if err != nil {
			return err
		}
		*rowErrs = append(*rowErrs, rejected...)
		idx = resend
	}
	return nil
}

// request is one AppendRows call: the batch indexes of its rows, in order.
type request struct {
	idx    []int
	result *managedwriter.AppendResult
}

// appendOnce sends rows[idx...] in as few requests as the size limit
// allows, pipelined, and waits for every result. BigQuery rejects a request
// with row errors whole: appendOnce returns the rows it named and the
// others of those requests, to send again. Any other error is returned as
// is (the first one).
func (s *Sink) appendOnce(ctx context.Context, rows []sinks.Result, idx []int) (rejected sinks.RowErrors, resend []int, err error) {
	var (
		reqs []request
		data [][]byte
		size int
		cur  request
	)
	flush := func() error {
		if len(data) == 0 {
			return nil
		}
		res, err := s.stream.AppendRows(ctx, data)
		if err != nil {
			return classify("append to "+s.opts.tablePath(), err)
		}
		cur.result = res
		reqs = append(reqs, cur)
		cur, data, size = request{}, nil, 0
		return nil
	}
	for _, i := range idx {
		b := s.enc.encode(nil, &rows[i])
		if size > 0 && size+len(b) > s.maxRequest {
			if err := flush(); err != nil {
				return nil, nil, err
			}
		}
		data = append(data, b)
		cur.idx = append(cur.idx, i)
		size += len(b) + 8
	}
	if err := flush(); err != nil {
		return nil, nil, err
	}

	var firstErr error
	for _, r := range reqs {
		resp, err := r.result.FullResponse(ctx)
		if err == nil {
			continue
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, nil, fmt.Errorf("bqsink: append to %s: %w", s.opts.tablePath(), ctxErr)
		}
		named := make(map[int]bool)
		for _, re := range resp.GetRowErrors() {
			j := int(re.GetIndex())
			if j < 0 || j >= len(r.idx) || named[j] {
				continue
			}
			named[j] = true
			rejected = append(rejected, sinks.RowError{
				Index: r.idx[j],
				Err:   errkind.Errorf(errkind.InvalidInput, ReasonRowRejected, "bigquery rejected the row (%s): %s", re.GetCode(), re.GetMessage()),
			})
		}
		if len(named) == 0 {
			// No row errors, or none naming a row of the request: the
			// request failed as a whole.
			if firstErr == nil {
				firstErr = classify("append to "+s.opts.tablePath(), err)
			}
			continue
		}
		for j, i := range r.idx {
			if !named[j] {
				resend = append(resend, i)
			}
		}
	}
	if firstErr != nil {
		return nil, nil, firstErr
	}
	return rejected, resend, nil
}

// Close implements sinks.Sink: it waits for Writes in progress (or ctx),
// then closes the stream and the client. Every Write already waited for its
// appends, so nothing is left to flush. Closing twice is a no-op.
func (s *Sink) Close(ctx context.Context) error {
	err := s.writes.Close(ctx, s.shutdown)
	if errors.Is(err, inflight.ErrWritesInProgress) {
		return fmt.Errorf("bqsink: close: %w", err)
	}
	return err
}

func (s *Sink) shutdown() error {
	err := s.stream.Close()
	if errors.Is(err, io.EOF) {
		// A managed stream reports a normal close as io.EOF.
		err = nil
	}
	return errors.Join(classify("close stream", err), classify("close client", s.client.Close()))
}
