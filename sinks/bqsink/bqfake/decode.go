package bqfake

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// CDC pseudo-columns.
const (
	changeTypeColumn = "_CHANGE_TYPE"
	changeSeqColumn  = "_CHANGE_SEQUENCE_NUMBER"
	changeUpsert     = "UPSERT"
	changeDelete     = "DELETE"
)

// Value ranges BigQuery accepts: 0001-01-01 to 9999-12-31.
const (
	minTimestampMicros = -62135596800000000
	maxTimestampMicros = 253402300799999999
	minDateDays        = -719162
	maxDateDays        = 2932896
)

// writerMessage builds the message descriptor of a writer schema: the
// DescriptorProto, self-contained as the API requires, wrapped in a proto2
// file.
func writerMessage(dp *descriptorpb.DescriptorProto) (protoreflect.MessageDescriptor, error) {
	if dp == nil || dp.GetName() == "" {
		return nil, fmt.Errorf("writer schema has no message descriptor")
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:        proto.String("bqfake_writer_schema.proto"),
		Syntax:      proto.String("proto2"),
		MessageType: []*descriptorpb.DescriptorProto{dp},
	}
	fd, err := protodesc.NewFile(fdp, new(protoregistry.Files))
	if err != nil {
		return nil, fmt.Errorf("invalid writer schema: %w", err)
	}
	return fd.Messages().Get(0), nil
}

// rowPlan maps a writer message onto table columns.
type rowPlan struct {
	md     protoreflect.MessageDescriptor
	cols   []*column
	fields []fieldPlan
	// changeType is the _CHANGE_TYPE field, if the writer schema has one
	// (top level only).
	changeType protoreflect.FieldDescriptor
}

type fieldPlan struct {
	fd  protoreflect.FieldDescriptor
	col int
	sub *rowPlan // RECORD columns
}

// compilePlan checks a writer message against columns: every field must
// have a column of a compatible type and mode, and every REQUIRED column a
// field. Its errors fail the whole request.
func compilePlan(md protoreflect.MessageDescriptor, cols []*column, top bool, path string) (*rowPlan, error) {
	p := &rowPlan{md: md, cols: cols}
	covered := make([]bool, len(cols))
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := fieldColumnName(fd)
		if top && strings.EqualFold(name, changeTypeColumn) {
			if fd.Kind() != protoreflect.StringKind || fd.IsList() {
				return nil, fmt.Errorf("%s must be a single string field", changeTypeColumn)
			}
			p.changeType = fd
			continue
		}
		if top && strings.EqualFold(name, changeSeqColumn) {
			return nil, fmt.Errorf("%s is not implemented by bqfake", changeSeqColumn)
		}
		ci := findColumn(cols, name)
		if ci < 0 {
			return nil, fmt.Errorf("input schema has more fields than the table: %s%s has no column", path, name)
		}
		if covered[ci] {
			return nil, fmt.Errorf("column %s%s is written by two fields", path, cols[ci].name)
		}
		covered[ci] = true
		c := cols[ci]
		if fd.IsMap() {
			return nil, fmt.Errorf("field %s%s is a map", path, name)
		}
		if fd.IsList() != c.repeated() {
			return nil, fmt.Errorf("field %s%s is %s, column is %s", path, name, fd.Cardinality(), c.mode)
		}
		if !compatible(c.typ, fd.Kind()) {
			return nil, fmt.Errorf("field %s%s of proto type %s cannot be written to %s column", path, name, fd.Kind(), c.typ)
		}
		f := fieldPlan{fd: fd, col: ci}
		if c.typ == tRecord {
			sub, err := compilePlan(fd.Message(), c.fields, false, path+c.name+".")
			if err != nil {
				return nil, err
			}
			f.sub = sub
		}
		p.fields = append(p.fields, f)
	}
	for i, c := range cols {
		if c.required() && !covered[i] {
			return nil, fmt.Errorf("REQUIRED column %s%s is missing from the writer schema", path, c.name)
		}
	}
	return p, nil
}

// fieldColumnName is the column a field writes: its name, or the
// column_name annotation for names protobuf cannot spell.
func fieldColumnName(fd protoreflect.FieldDescriptor) string {
	if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts != nil && proto.HasExtension(opts, storagepb.E_ColumnName) {
		if name, ok := proto.GetExtension(opts, storagepb.E_ColumnName).(string); ok && name != "" {
			return name
		}
	}
	return string(fd.Name())
}

func isInt(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return true
	}
	return false
}

// compatible says which proto kinds a column type takes.
func compatible(typ string, k protoreflect.Kind) bool {
	switch typ {
	case tString, tGeography, tJSON:
		return k == protoreflect.StringKind
	case tBytes:
		return k == protoreflect.BytesKind
	case tInt64:
		return isInt(k) || k == protoreflect.EnumKind
	case tFloat64:
		return k == protoreflect.DoubleKind || k == protoreflect.FloatKind || isInt(k)
	case tBool:
		return k == protoreflect.BoolKind
	case tTimestamp, tDate:
		return isInt(k)
	case tDatetime, tTime:
		return k == protoreflect.StringKind || isInt(k)
	case tNumeric, tBigNumeric:
		return k == protoreflect.StringKind || k == protoreflect.BytesKind
	case tRecord:
		return k == protoreflect.MessageKind || k == protoreflect.GroupKind
	}
	return false // RANGE: not implemented
}

// decodeRow decodes one serialized row. Its error is a row error: the row
// is bad, the request is rejected with it.
func (p *rowPlan) decodeRow(b []byte, pk []int) ([]any, string, error) {
	msg := dynamicpb.NewMessage(p.md)
	if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(b, msg); err != nil {
		return nil, "", fmt.Errorf("cannot decode the row with the writer schema: %v", err)
	}
	var change string
	if p.changeType != nil && msg.Has(p.changeType) {
		change = strings.ToUpper(msg.Get(p.changeType).String())
		if change != changeUpsert && change != changeDelete {
			return nil, "", fmt.Errorf("%s is %q, want UPSERT or DELETE", changeTypeColumn, msg.Get(p.changeType).String())
		}
	}
	// A DELETE needs only the key.
	need := func(i int) bool { return change != changeDelete || slices.Contains(pk, i) }
	rec, err := p.convert(msg, "", need)
	return rec, change, err
}

// convert turns a decoded message into a record aligned with p.cols.
func (p *rowPlan) convert(msg protoreflect.Message, path string, need func(int) bool) ([]any, error) {
	rec := make([]any, len(p.cols))
	for _, f := range p.fields {
		c := p.cols[f.col]
		name := path + c.name
		if c.repeated() {
			list := msg.Get(f.fd).List()
			if list.Len() == 0 {
				continue
			}
			vals := make([]any, list.Len())
			for j := range vals {
				v, err := f.value(c, list.Get(j), fmt.Sprintf("%s[%d]", name, j))
				if err != nil {
					return nil, err
				}
				vals[j] = v
			}
			rec[f.col] = vals
			continue
		}
		if !msg.Has(f.fd) {
			continue
		}
		v, err := f.value(c, msg.Get(f.fd), name)
		if err != nil {
			return nil, err
		}
		rec[f.col] = v
	}
	for i, c := range p.cols {
		if c.required() && rec[i] == nil && (need == nil || need(i)) {
			return nil, fmt.Errorf("missing required field %s%s", path, c.name)
		}
	}
	return rec, nil
}

func (f *fieldPlan) value(c *column, v protoreflect.Value, name string) (any, error) {
	k := f.fd.Kind()
	switch c.typ {
	case tRecord:
		return f.sub.convert(v.Message(), name+".", nil)
	case tString, tGeography, tJSON:
		s := v.String()
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("field %s is not valid UTF-8", name)
		}
		if c.typ == tJSON && !json.Valid([]byte(s)) {
			return nil, fmt.Errorf("field %s is not valid JSON", name)
		}
		return s, nil
	case tBytes:
		return append([]byte(nil), v.Bytes()...), nil
	case tInt64:
		return intValue(k, v), nil
	case tFloat64:
		if k == protoreflect.DoubleKind || k == protoreflect.FloatKind {
			return v.Float(), nil
		}
		return float64(intValue(k, v)), nil
	case tBool:
		return v.Bool(), nil
	case tTimestamp:
		us := intValue(k, v)
		if us < minTimestampMicros || us > maxTimestampMicros {
			return nil, fmt.Errorf("field %s: timestamp %d µs is out of range (0001-01-01 to 9999-12-31)", name, us)
		}
		return us, nil
	case tDate:
		d := intValue(k, v)
		if d < minDateDays || d > maxDateDays {
			return nil, fmt.Errorf("field %s: date %d days is out of range (0001-01-01 to 9999-12-31)", name, d)
		}
		return d, nil
	}
	// DATETIME, TIME, NUMERIC, BIGNUMERIC: stored as sent, unchecked.
	switch {
	case k == protoreflect.StringKind:
		return v.String(), nil
	case k == protoreflect.BytesKind:
		return append([]byte(nil), v.Bytes()...), nil
	default:
		return intValue(k, v), nil
	}
}

func intValue(k protoreflect.Kind, v protoreflect.Value) int64 {
	switch k {
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return int64(v.Uint())
	case protoreflect.EnumKind:
		return int64(v.Enum())
	}
	return v.Int()
}
