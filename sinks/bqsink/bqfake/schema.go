package bqfake

import (
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	bq "google.golang.org/api/bigquery/v2"
)

// Column types, normalized to their GoogleSQL names.
const (
	tString     = "STRING"
	tBytes      = "BYTES"
	tInt64      = "INT64"
	tFloat64    = "FLOAT64"
	tNumeric    = "NUMERIC"
	tBigNumeric = "BIGNUMERIC"
	tBool       = "BOOL"
	tTimestamp  = "TIMESTAMP"
	tDate       = "DATE"
	tTime       = "TIME"
	tDatetime   = "DATETIME"
	tGeography  = "GEOGRAPHY"
	tJSON       = "JSON"
	tRecord     = "RECORD"
	tRange      = "RANGE"

	modeNullable = "NULLABLE"
	modeRequired = "REQUIRED"
	modeRepeated = "REPEATED"
)

// typeAliases maps REST type names to normalized ones.
func normType(t string) (string, bool) {
	switch strings.ToUpper(t) {
	case "STRING":
		return tString, true
	case "BYTES":
		return tBytes, true
	case "INTEGER", "INT64":
		return tInt64, true
	case "FLOAT", "FLOAT64":
		return tFloat64, true
	case "NUMERIC":
		return tNumeric, true
	case "BIGNUMERIC":
		return tBigNumeric, true
	case "BOOLEAN", "BOOL":
		return tBool, true
	case "TIMESTAMP":
		return tTimestamp, true
	case "DATE":
		return tDate, true
	case "TIME":
		return tTime, true
	case "DATETIME":
		return tDatetime, true
	case "GEOGRAPHY":
		return tGeography, true
	case "JSON":
		return tJSON, true
	case "RECORD", "STRUCT":
		return tRecord, true
	case "RANGE":
		return tRange, true
	}
	return "", false
}

// column is one field of a table schema.
type column struct {
	name   string
	typ    string
	mode   string
	fields []*column
}

func (c *column) repeated() bool { return c.mode == modeRepeated }
func (c *column) required() bool { return c.mode == modeRequired }

// validName reports whether name is a plain column name: a letter or
// underscore, then letters, digits and underscores, at most 300 in all.
func validName(name string) bool {
	if name == "" || len(name) > 300 {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// reservedPrefixes may not start a column name.
func reservedPrefix(name string) bool {
	up := strings.ToUpper(name)
	for _, p := range []string{"_TABLE_", "_FILE_", "_PARTITION", "_ROW_TIMESTAMP", "__ROOT__", "_COLIDENTIFIER", "_CHANGE_SEQUENCE_NUMBER", "_CHANGE_TYPE", "_CHANGE_TIMESTAMP"} {
		if strings.HasPrefix(up, p) {
			return true
		}
	}
	return false
}

// parseFields turns a REST schema into columns, checking names, types and
// modes.
func parseFields(path string, in []*bq.TableFieldSchema) ([]*column, error) {
	var out []*column
	seen := map[string]bool{}
	for _, f := range in {
		if f == nil {
			return nil, fmt.Errorf("empty field in %s", orTop(path))
		}
		full := path + f.Name
		if !validName(f.Name) || reservedPrefix(f.Name) {
			return nil, fmt.Errorf("invalid field name %q", full)
		}
		if seen[strings.ToLower(f.Name)] {
			return nil, fmt.Errorf("duplicate field name %q", full)
		}
		seen[strings.ToLower(f.Name)] = true
		typ, ok := normType(f.Type)
		if !ok {
			return nil, fmt.Errorf("field %s has unknown type %q", full, f.Type)
		}
		mode := strings.ToUpper(f.Mode)
		switch mode {
		case "":
			mode = modeNullable
		case modeNullable, modeRequired, modeRepeated:
		default:
			return nil, fmt.Errorf("field %s has unknown mode %q", full, f.Mode)
		}
		c := &column{name: f.Name, typ: typ, mode: mode}
		if typ == tRecord {
			if len(f.Fields) == 0 {
				return nil, fmt.Errorf("field %s is a RECORD without fields", full)
			}
			var err error
			if c.fields, err = parseFields(full+".", f.Fields); err != nil {
				return nil, err
			}
		} else if len(f.Fields) > 0 {
			return nil, fmt.Errorf("field %s is a %s with subfields", full, typ)
		}
		out = append(out, c)
	}
	return out, nil
}

func orTop(path string) string {
	if path == "" {
		return "schema"
	}
	return strings.TrimSuffix(path, ".")
}

// findColumn finds a column by name, case-insensitively, as BigQuery does.
func findColumn(cols []*column, name string) int {
	return slices.IndexFunc(cols, func(c *column) bool { return strings.EqualFold(c.name, name) })
}

// checkTableOptions checks partitioning, clustering and the primary key
// against the columns, and returns the key's column indexes.
func checkTableOptions(t *bq.Table, cols []*column) ([]int, error) {
	if tp := t.TimePartitioning; tp != nil {
		switch strings.ToUpper(tp.Type) {
		case "DAY", "HOUR", "MONTH", "YEAR":
		default:
			return nil, fmt.Errorf("timePartitioning.type %q is not DAY, HOUR, MONTH or YEAR", tp.Type)
		}
		if tp.Field != "" {
			i := findColumn(cols, tp.Field)
			if i < 0 {
				return nil, fmt.Errorf("partitioning field %s is not a top-level column", tp.Field)
			}
			c := cols[i]
			if c.repeated() || (c.typ != tTimestamp && c.typ != tDate && c.typ != tDatetime) {
				return nil, fmt.Errorf("partitioning field %s must be a single TIMESTAMP, DATE or DATETIME, not %s %s", tp.Field, c.mode, c.typ)
			}
		}
	}
	if cl := t.Clustering; cl != nil {
		if len(cl.Fields) > 4 {
			return nil, fmt.Errorf("at most 4 clustering fields, got %d", len(cl.Fields))
		}
		for _, f := range cl.Fields {
			i := findColumn(cols, f)
			if i < 0 {
				return nil, fmt.Errorf("clustering field %s is not a top-level column", f)
			}
			c := cols[i]
			switch {
			case c.repeated():
				return nil, fmt.Errorf("clustering field %s is REPEATED", f)
			case c.typ == tFloat64 || c.typ == tRecord || c.typ == tJSON || c.typ == tBytes || c.typ == tRange:
				return nil, fmt.Errorf("clustering field %s has type %s, which cannot be clustered", f, c.typ)
			}
		}
	}
	var pk []int
	if tc := t.TableConstraints; tc != nil && tc.PrimaryKey != nil {
		if len(tc.PrimaryKey.Columns) == 0 || len(tc.PrimaryKey.Columns) > 16 {
			return nil, fmt.Errorf("a primary key has 1 to 16 columns, got %d", len(tc.PrimaryKey.Columns))
		}
		for _, name := range tc.PrimaryKey.Columns {
			i := findColumn(cols, name)
			if i < 0 {
				return nil, fmt.Errorf("primary key column %s is not a top-level column", name)
			}
			if slices.Contains(pk, i) {
				return nil, fmt.Errorf("primary key column %s is listed twice", name)
			}
			c := cols[i]
			if c.repeated() || c.typ == tRecord || c.typ == tJSON || c.typ == tGeography {
				return nil, fmt.Errorf("primary key column %s cannot be %s %s", name, c.mode, c.typ)
			}
			pk = append(pk, i)
		}
	}
	return pk, nil
}

// storageSchema converts columns to the Storage Write API's schema.
func storageSchema(cols []*column) *storagepb.TableSchema {
	return &storagepb.TableSchema{Fields: storageFields(cols)}
}

func storageFields(cols []*column) []*storagepb.TableFieldSchema {
	out := make([]*storagepb.TableFieldSchema, len(cols))
	for i, c := range cols {
		f := &storagepb.TableFieldSchema{
			Name: c.name,
			Type: storageType(c.typ),
			Mode: storagepb.TableFieldSchema_Mode(storagepb.TableFieldSchema_Mode_value[c.mode]),
		}
		if c.typ == tRecord {
			f.Fields = storageFields(c.fields)
		}
		out[i] = f
	}
	return out
}

func storageType(t string) storagepb.TableFieldSchema_Type {
	switch t {
	case tFloat64:
		return storagepb.TableFieldSchema_DOUBLE
	case tRecord:
		return storagepb.TableFieldSchema_STRUCT
	}
	return storagepb.TableFieldSchema_Type(storagepb.TableFieldSchema_Type_value[t])
}
