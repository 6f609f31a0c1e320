package bqfake

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const defaultStreamID = "_default"

// writeService implements the BigQueryWrite gRPC service.
type writeService struct {
	storagepb.UnimplementedBigQueryWriteServer
	s *Server
}

// parseStreamName splits projects/P/datasets/D/tables/T/streams/S.
func parseStreamName(name string) (project, datasetID, tableID, streamID string, ok bool) {
	p := strings.Split(name, "/")
	if len(p) != 8 || p[0] != "projects" || p[2] != "datasets" || p[4] != "tables" || p[6] != "streams" {
		return "", "", "", "", false
	}
	return p[1], p[3], p[5], p[7], true
}

// parseTableName splits projects/P/datasets/D/tables/T.
func parseTableName(name string) (project, datasetID, tableID string, ok bool) {
	p := strings.Split(name, "/")
	if len(p) != 6 || p[0] != "projects" || p[2] != "datasets" || p[4] != "tables" {
		return "", "", "", false
	}
	return p[1], p[3], p[5], true
}

// unary runs the reactors of a unary RPC.
func unary[Resp any](s *Server, rpc string, req any) (bool, Resp, error) {
	var zero Resp
	handled, ret, err := s.react(rpc, req)
	if !handled {
		return false, zero, nil
	}
	if err != nil {
		return true, zero, grpcError(err)
	}
	resp, ok := ret.(Resp)
	if !ok {
		return true, zero, status.Errorf(codes.Internal, "bqfake: %s reactor returned %T", rpc, ret)
	}
	return true, resp, nil
}

// grpcError makes err a status error; an error without a code is Unknown.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	return status.Error(codes.Unknown, err.Error())
}

// streamLocked resolves a stream name: a created stream, or a table's
// _default stream (st == nil).
func (s *Server) streamLocked(name string) (*table, *stream, error) {
	project, dsID, tblID, id, ok := parseStreamName(name)
	if !ok {
		return nil, nil, errInvalid("invalid write stream name %q", name)
	}
	t, err := s.tableLocked(project, dsID, tblID)
	if err != nil {
		return nil, nil, err
	}
	if id == defaultStreamID {
		return t, nil, nil
	}
	st := s.streams[name]
	if st == nil || st.tbl != t {
		return nil, nil, errNotFound("Not found: write stream %s", name)
	}
	return t, st, nil
}

func (w *writeService) GetWriteStream(_ context.Context, req *storagepb.GetWriteStreamRequest) (*storagepb.WriteStream, error) {
	if handled, resp, err := unary[*storagepb.WriteStream](w.s, RPCGetWriteStream, req); handled {
		return resp, err
	}
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	t, st, err := s.streamLocked(req.GetName())
	if err != nil {
		return nil, grpcError(err)
	}
	full := req.GetView() == storagepb.WriteStreamView_FULL
	if st == nil {
		ws := &storagepb.WriteStream{
			Name:       req.GetName(),
			Type:       storagepb.WriteStream_COMMITTED,
			CreateTime: timestamppb.New(t.created),
			WriteMode:  storagepb.WriteStream_INSERT,
			Location:   t.meta.Location,
		}
		if full {
			ws.TableSchema = storageSchema(t.cols)
		}
		return ws, nil
	}
	ws := st.proto(t)
	if !full {
		ws.TableSchema = nil
	}
	return ws, nil
}

func (st *stream) proto(t *table) *storagepb.WriteStream {
	ws := &storagepb.WriteStream{
		Name:        st.name,
		Type:        st.typ,
		CreateTime:  timestamppb.New(st.created),
		WriteMode:   storagepb.WriteStream_INSERT,
		Location:    t.meta.Location,
		TableSchema: storageSchema(t.cols),
	}
	if !st.committed.IsZero() {
		ws.CommitTime = timestamppb.New(st.committed)
	}
	return ws
}

func (w *writeService) CreateWriteStream(_ context.Context, req *storagepb.CreateWriteStreamRequest) (*storagepb.WriteStream, error) {
	if handled, resp, err := unary[*storagepb.WriteStream](w.s, RPCCreateWriteStream, req); handled {
		return resp, err
	}
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	project, dsID, tblID, ok := parseTableName(req.GetParent())
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "invalid parent %q", req.GetParent())
	}
	t, err := s.tableLocked(project, dsID, tblID)
	if err != nil {
		return nil, grpcError(err)
	}
	typ := req.GetWriteStream().GetType()
	switch typ {
	case storagepb.WriteStream_COMMITTED, storagepb.WriteStream_PENDING:
	case storagepb.WriteStream_BUFFERED:
		return nil, status.Error(codes.Unimplemented, "bqfake does not implement BUFFERED streams")
	default:
		return nil, status.Errorf(codes.InvalidArgument, "write stream type %s is not valid", typ)
	}
	st := &stream{
		name:    req.GetParent() + "/streams/bqfake" + strconv.FormatInt(s.nextSeq(), 10),
		typ:     typ,
		tbl:     t,
		created: time.Now(),
		visible: new(bool),
	}
	*st.visible = typ == storagepb.WriteStream_COMMITTED
	s.streams[st.name] = st
	return st.proto(t), nil
}

func (w *writeService) FinalizeWriteStream(_ context.Context, req *storagepb.FinalizeWriteStreamRequest) (*storagepb.FinalizeWriteStreamResponse, error) {
	if handled, resp, err := unary[*storagepb.FinalizeWriteStreamResponse](w.s, RPCFinalizeWriteStream, req); handled {
		return resp, err
	}
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	_, st, err := s.streamLocked(req.GetName())
	if err != nil {
		return nil, grpcError(err)
	}
	if st == nil {
		return nil, status.Error(codes.InvalidArgument, "the _default stream cannot be finalized")
	}
	st.finalized = true
	return &storagepb.FinalizeWriteStreamResponse{RowCount: st.rows}, nil
}

func (w *writeService) BatchCommitWriteStreams(_ context.Context, req *storagepb.BatchCommitWriteStreamsRequest) (*storagepb.BatchCommitWriteStreamsResponse, error) {
	if handled, resp, err := unary[*storagepb.BatchCommitWriteStreamsResponse](w.s, RPCBatchCommitWriteStreams, req); handled {
		return resp, err
	}
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	project, dsID, tblID, ok := parseTableName(req.GetParent())
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "invalid parent %q", req.GetParent())
	}
	t, err := s.tableLocked(project, dsID, tblID)
	if err != nil {
		return nil, grpcError(err)
	}
	var (
		resp    storagepb.BatchCommitWriteStreamsResponse
		streams []*stream
	)
	fail := func(code storagepb.StorageError_StorageErrorCode, name, msg string) {
		resp.StreamErrors = append(resp.StreamErrors, &storagepb.StorageError{Code: code, Entity: name, ErrorMessage: msg})
	}
	for _, name := range req.GetWriteStreams() {
		st := s.streams[name]
		switch {
		case st == nil || st.tbl != t:
			fail(storagepb.StorageError_STREAM_NOT_FOUND, name, "stream not found in "+req.GetParent())
		case st.typ != storagepb.WriteStream_PENDING:
			fail(storagepb.StorageError_INVALID_STREAM_TYPE, name, "only PENDING streams are committed")
		case !st.committed.IsZero():
			fail(storagepb.StorageError_STREAM_ALREADY_COMMITTED, name, "stream already committed")
		case !st.finalized:
			fail(storagepb.StorageError_INVALID_STREAM_STATE, name, "stream is not finalized")
		default:
			streams = append(streams, st)
		}
	}
	if len(resp.StreamErrors) > 0 {
		return &resp, nil
	}
	now := time.Now()
	for _, st := range streams {
		for _, r := range st.pending {
			t.apply(s.nextSeq(), r)
		}
		st.pending = nil
		*st.visible = true
		st.committed = now
	}
	resp.CommitTime = timestamppb.New(now)
	return &resp, nil
}

// conn is what one AppendRows connection remembers between requests.
type conn struct {
	stream  string
	schema  *descriptorpb.DescriptorProto
	traceID string
	plan    *rowPlan
	planFor *table
}

func (w *writeService) AppendRows(srv storagepb.BigQueryWrite_AppendRowsServer) error {
	var c conn
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if name := req.GetWriteStream(); name != "" && name != c.stream {
			if c.stream != "" {
				// Switching streams on one connection (multiplexing): the
				// schema must come again.
				c.schema, c.plan = nil, nil
			}
			c.stream = name
		}
		if c.stream == "" {
			return status.Error(codes.InvalidArgument, "the first AppendRows request must name write_stream")
		}
		if id := req.GetTraceId(); id != "" {
			c.traceID = id
		}
		if ws := req.GetProtoRows().GetWriterSchema(); ws != nil {
			c.schema, c.plan = ws.GetProtoDescriptor(), nil
		}
		// Reactors see the request once the connection has remembered
		// what it carried, so an injected answer does not lose it.
		if handled, ret, err := w.s.react(RPCAppendRows, req); handled {
			if err != nil {
				return grpcError(err)
			}
			resp, ok := ret.(*storagepb.AppendRowsResponse)
			if !ok {
				return status.Errorf(codes.Internal, "bqfake: AppendRows reactor returned %T", ret)
			}
			if resp.WriteStream == "" {
				resp = proto.CloneOf(resp)
				resp.WriteStream = c.stream
			}
			if err := srv.Send(resp); err != nil {
				return err
			}
			continue
		}
		if err := srv.Send(w.s.append(&c, req)); err != nil {
			return err
		}
	}
}

// inBand is an AppendRowsResponse carrying an error.
func inBand(stream string, code codes.Code, format string, args ...any) *storagepb.AppendRowsResponse {
	return &storagepb.AppendRowsResponse{
		WriteStream: stream,
		Response:    &storagepb.AppendRowsResponse_Error{Error: status.Newf(code, format, args...).Proto()},
	}
}

// append handles one AppendRows request and returns its response.
func (s *Server) append(c *conn, req *storagepb.AppendRowsRequest) *storagepb.AppendRowsResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, st, err := s.streamLocked(c.stream)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return inBand(c.stream, ae.code, "%s", ae.msg)
		}
		return inBand(c.stream, codes.Internal, "%v", err)
	}
	pr := req.GetProtoRows()
	if pr == nil {
		return inBand(c.stream, codes.InvalidArgument, "bqfake accepts proto rows only")
	}
	if c.schema == nil {
		return inBand(c.stream, codes.InvalidArgument, "no writer schema on this connection for %s", c.stream)
	}
	if c.plan == nil || c.planFor != t {
		md, err := writerMessage(c.schema)
		if err == nil {
			c.plan, err = compilePlan(md, t.cols, true, "")
		}
		if err != nil {
			c.plan = nil
			return inBand(c.stream, codes.InvalidArgument, "%v", err)
		}
		c.planFor = t
	}
	if c.plan.changeType != nil {
		if st != nil {
			return inBand(c.stream, codes.InvalidArgument, "%s (CDC) is only accepted on the _default stream", changeTypeColumn)
		}
		if len(t.pk) == 0 {
			return inBand(c.stream, codes.InvalidArgument, "%s needs a table with a primary key; %s:%s.%s has none", changeTypeColumn, t.project, t.dataset, t.id)
		}
	}

	var offset *wrapperspb.Int64Value
	if st != nil {
		switch {
		case st.finalized:
			return inBand(c.stream, codes.InvalidArgument, "stream %s is finalized", c.stream)
		case !st.committed.IsZero():
			return inBand(c.stream, codes.InvalidArgument, "stream %s is already committed", c.stream)
		}
		if o := req.GetOffset(); o != nil {
			switch {
			case o.GetValue() < st.rows:
				return inBand(c.stream, codes.AlreadyExists, "offset %d already written to %s (end %d)", o.GetValue(), c.stream, st.rows)
			case o.GetValue() > st.rows:
				return inBand(c.stream, codes.OutOfRange, "offset %d is beyond the end of %s (%d)", o.GetValue(), c.stream, st.rows)
			}
		}
		offset = wrapperspb.Int64(st.rows)
	} else if req.GetOffset() != nil {
		return inBand(c.stream, codes.InvalidArgument, "offsets are not supported on the _default stream")
	}

	data := pr.GetRows().GetSerializedRows()
	rows := make([]*rawRow, len(data))
	var rowErrs []*storagepb.RowError
	for i, b := range data {
		rec, change, err := c.plan.decodeRow(b, t.pk)
		if err != nil {
			rowErrs = append(rowErrs, &storagepb.RowError{Index: int64(i), Code: storagepb.RowError_FIELDS_ERROR, Message: err.Error()})
			continue
		}
		rows[i] = &rawRow{rec: rec, change: change, stream: c.stream, traceID: c.traceID}
	}
	if len(rowErrs) > 0 {
		resp := inBand(c.stream, codes.InvalidArgument,
			"Errors found while processing rows. Please refer to the row_errors field for details. The list may not be complete because of the size limitations. Entity: %s", c.stream)
		resp.RowErrors = rowErrs
		return resp
	}

	visible := new(bool)
	*visible = true
	if st != nil {
		visible = st.visible
		st.rows += int64(len(rows))
	}
	for _, r := range rows {
		r.visible = visible
		t.raw = append(t.raw, r)
		if st != nil && st.typ == storagepb.WriteStream_PENDING {
			st.pending = append(st.pending, r)
			continue
		}
		t.apply(s.nextSeq(), r)
	}
	return &storagepb.AppendRowsResponse{
		WriteStream: c.stream,
		Response:    &storagepb.AppendRowsResponse_AppendResult_{AppendResult: &storagepb.AppendRowsResponse_AppendResult{Offset: offset}},
	}
}
