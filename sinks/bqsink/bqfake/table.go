package bqfake

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type dataset struct {
	project, id string
	meta        *bq.Dataset
	tables      map[string]*table
}

type table struct {
	project, dataset, id string
	meta                 *bq.Table
	cols                 []*column
	pk                   []int
	created              time.Time

	// visible holds the rows a read returns, by write sequence; byKey
	// indexes them by primary key (tables with one).
	visible map[int64][]any
	byKey   map[string][]int64
	raw     []*rawRow
}

type rawRow struct {
	rec             []any
	change          string
	stream, traceID string
	visible         *bool // shared by the rows of one PENDING stream
}

// stream is a write stream made by CreateWriteStream.
type stream struct {
	name      string
	typ       storagepb.WriteStream_Type
	tbl       *table
	created   time.Time
	rows      int64
	pending   []*rawRow // PENDING: appended, not committed
	finalized bool
	committed time.Time
	visible   *bool
}

func (s *Server) createDatasetLocked(project, id, location, description string) (*dataset, error) {
	if project == "" || !validName(id) {
		return nil, errInvalid("invalid dataset reference %q.%q", project, id)
	}
	key := project + "." + id
	if _, ok := s.datasets[key]; ok {
		return nil, errDuplicate("Already Exists: Dataset %s:%s", project, id)
	}
	if location == "" {
		location = "US"
	}
	now := time.Now()
	ds := &dataset{project: project, id: id, tables: map[string]*table{}, meta: &bq.Dataset{
		Kind:             "bigquery#dataset",
		Id:               project + ":" + id,
		DatasetReference: &bq.DatasetReference{ProjectId: project, DatasetId: id},
		Location:         location,
		Description:      description,
		CreationTime:     now.UnixMilli(),
		LastModifiedTime: now.UnixMilli(),
		Etag:             strconv.FormatInt(now.UnixNano(), 36),
	}}
	s.datasets[key] = ds
	return ds, nil
}

func (s *Server) datasetLocked(project, id string) (*dataset, error) {
	ds := s.datasets[project+"."+id]
	if ds == nil {
		return nil, errNotFound("Not found: Dataset %s:%s", project, id)
	}
	return ds, nil
}

func (s *Server) tableLocked(project, datasetID, tableID string) (*table, error) {
	ds, err := s.datasetLocked(project, datasetID)
	if err != nil {
		return nil, err
	}
	t := ds.tables[tableID]
	if t == nil {
		return nil, errNotFound("Not found: Table %s:%s.%s", project, datasetID, tableID)
	}
	return t, nil
}

// createTableLocked validates and stores a tables.insert body.
func (s *Server) createTableLocked(project, datasetID string, in *bq.Table) (*table, error) {
	ds, err := s.datasetLocked(project, datasetID)
	if err != nil {
		return nil, err
	}
	ref := in.TableReference
	if ref == nil || ref.TableId == "" {
		return nil, errInvalid("tableReference.tableId is required")
	}
	if (ref.ProjectId != "" && ref.ProjectId != project) || (ref.DatasetId != "" && ref.DatasetId != datasetID) {
		return nil, errInvalid("tableReference %s:%s.%s does not match the request path", ref.ProjectId, ref.DatasetId, ref.TableId)
	}
	if !validName(ref.TableId) {
		return nil, errInvalid("invalid table id %q", ref.TableId)
	}
	if _, ok := ds.tables[ref.TableId]; ok {
		return nil, errDuplicate("Already Exists: Table %s:%s.%s", project, datasetID, ref.TableId)
	}
	var cols []*column
	if in.Schema != nil {
		if cols, err = parseFields("", in.Schema.Fields); err != nil {
			return nil, errInvalid("%v", err)
		}
	}
	pk, err := checkTableOptions(in, cols)
	if err != nil {
		return nil, errInvalid("%v", err)
	}
	now := time.Now()
	meta := *in
	meta.Kind = "bigquery#table"
	meta.Id = fmt.Sprintf("%s:%s.%s", project, datasetID, ref.TableId)
	meta.TableReference = &bq.TableReference{ProjectId: project, DatasetId: datasetID, TableId: ref.TableId}
	meta.Type = "TABLE"
	meta.Location = ds.meta.Location
	meta.CreationTime = now.UnixMilli()
	meta.LastModifiedTime = uint64(now.UnixMilli())
	meta.Etag = strconv.FormatInt(now.UnixNano(), 36)
	t := &table{
		project: project, dataset: datasetID, id: ref.TableId,
		meta: &meta, cols: cols, pk: pk, created: now,
		visible: map[int64][]any{},
		byKey:   map[string][]int64{},
	}
	ds.tables[ref.TableId] = t
	return t, nil
}

// tableMeta is the table resource as tables.get returns it.
func (t *table) tableMeta() *bq.Table {
	m := *t.meta
	m.NumRows = uint64(len(t.visible))
	m.ForceSendFields = append(slices.Clone(m.ForceSendFields), "NumRows")
	return &m
}

// keyOf is the primary key of rec, or "" for a table without one.
func (t *table) keyOf(rec []any) string {
	if len(t.pk) == 0 {
		return ""
	}
	var b strings.Builder
	for _, i := range t.pk {
		fmt.Fprintf(&b, "%T=%v\x00", rec[i], rec[i])
	}
	return b.String()
}

// apply makes one acknowledged row visible: an upsert replaces the rows
// with its key, a delete removes them, a plain row is appended.
func (t *table) apply(seq int64, r *rawRow) {
	k := t.keyOf(r.rec)
	if r.change != "" {
		for _, old := range t.byKey[k] {
			delete(t.visible, old)
		}
		delete(t.byKey, k)
		if r.change == changeDelete {
			return
		}
	}
	t.visible[seq] = r.rec
	if k != "" {
		t.byKey[k] = append(t.byKey[k], seq)
	}
}

// visibleRows returns the visible rows in write order.
func (t *table) visibleRows() [][]any {
	seqs := make([]int64, 0, len(t.visible))
	for seq := range t.visible {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	out := make([][]any, len(seqs))
	for i, seq := range seqs {
		out[i] = t.visible[seq]
	}
	return out
}

// restSchema is the table schema as REST returns it.
func (t *table) restSchema() *bq.TableSchema {
	if t.meta.Schema != nil {
		return t.meta.Schema
	}
	return &bq.TableSchema{}
}

// renderRows renders records as REST rows (tabledata.list, queries).
func renderRows(cols []*column, recs [][]any, int64Timestamps bool) []*bq.TableRow {
	out := make([]*bq.TableRow, len(recs))
	for i, r := range recs {
		out[i] = renderRecord(cols, r, int64Timestamps)
	}
	return out
}

func renderRecord(cols []*column, rec []any, int64Timestamps bool) *bq.TableRow {
	row := &bq.TableRow{F: make([]*bq.TableCell, len(cols))}
	for i, c := range cols {
		row.F[i] = &bq.TableCell{V: renderValue(c, rec[i], int64Timestamps)}
	}
	return row
}

func renderValue(c *column, v any, int64Timestamps bool) any {
	if c.repeated() {
		vals, _ := v.([]any)
		cells := make([]*bq.TableCell, len(vals))
		for i, e := range vals {
			cells[i] = &bq.TableCell{V: renderScalar(c, e, int64Timestamps)}
		}
		return cells
	}
	if v == nil {
		return nil
	}
	return renderScalar(c, v, int64Timestamps)
}

func renderScalar(c *column, v any, int64Timestamps bool) any {
	switch c.typ {
	case tRecord:
		rec, _ := v.([]any)
		return renderRecord(c.fields, rec, int64Timestamps)
	case tFloat64:
		f := v.(float64)
		switch {
		case math.IsNaN(f):
			return "NaN"
		case math.IsInf(f, 1):
			return "Infinity"
		case math.IsInf(f, -1):
			return "-Infinity"
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	case tTimestamp:
		us := v.(int64)
		if int64Timestamps {
			return strconv.FormatInt(us, 10)
		}
		return strconv.FormatFloat(float64(us)/1e6, 'E', -1, 64)
	case tDate:
		return time.Unix(v.(int64)*86400, 0).UTC().Format(time.DateOnly)
	}
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// toRow converts a record to the Row tests see.
func toRow(cols []*column, rec []any) Row {
	row := Row{}
	for i, c := range cols {
		if rec[i] == nil {
			continue
		}
		if c.repeated() {
			vals := rec[i].([]any)
			out := make([]any, len(vals))
			for j, e := range vals {
				out[j] = toValue(c, e)
			}
			row[c.name] = out
			continue
		}
		row[c.name] = toValue(c, rec[i])
	}
	return row
}

func toValue(c *column, v any) any {
	switch c.typ {
	case tRecord:
		return toRow(c.fields, v.([]any))
	case tTimestamp:
		return time.UnixMicro(v.(int64)).UTC()
	}
	return v
}

// Errors shared by REST and gRPC: a code, a REST reason and a message.
type apiError struct {
	code   codes.Code
	reason string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// GRPCStatus makes an apiError a gRPC status.
func (e *apiError) GRPCStatus() *status.Status { return status.New(e.code, e.msg) }

func errNotFound(format string, args ...any) error {
	return &apiError{codes.NotFound, "notFound", fmt.Sprintf(format, args...)}
}

func errInvalid(format string, args ...any) error {
	return &apiError{codes.InvalidArgument, "invalid", fmt.Sprintf(format, args...)}
}

func errDuplicate(format string, args ...any) error {
	return &apiError{codes.AlreadyExists, "duplicate", fmt.Sprintf(format, args...)}
}
