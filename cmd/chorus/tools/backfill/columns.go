package backfill

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/chorusml/chorus/worker/job"
)

// setColumn sets the job field a query column names from a database value
// (as pgx or the BigQuery client returns it). Unknown columns are ignored;
// NULL leaves the field empty.
func setColumn(j *job.Job, name string, v any) error {
	if v == nil {
		return nil
	}
	switch name {
	case "response_id":
		j.ResponseID = asString(v)
	case "tenant":
		j.Tenant = asString(v)
	case "text":
		j.Text = asString(v)
	case "survey_id":
		j.SurveyID = asString(v)
	case "lang":
		j.Lang = asString(v)
	case "score":
		f, err := asFloat(v)
		if err != nil {
			return fmt.Errorf("column score: %w", err)
		}
		j.Score = &f
	case "created_at":
		t, err := asTime(v)
		if err != nil {
			return fmt.Errorf("column created_at: %w", err)
		}
		j.CreatedAt = &t
	case "metadata":
		raw, err := asJSON(v)
		if err != nil {
			return fmt.Errorf("column metadata: %w", err)
		}
		j.Metadata = raw
	}
	return nil
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case [16]byte:
		// pgx returns a uuid as its bytes.
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
	case driver.Valuer:
		// pgtype.Numeric and the like: their SQL value is text or a
		// number.
		if dv, err := x.Value(); err == nil && dv != nil {
			if _, again := dv.(driver.Valuer); !again {
				return asString(dv)
			}
		}
	}
	return fmt.Sprint(v)
}

func asFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int16:
		return float64(x), nil
	case int:
		return float64(x), nil
	case *big.Rat:
		f, _ := x.Float64()
		return f, nil
	case string:
		return strconv.ParseFloat(x, 64)
	case json.Marshaler:
		// pgtype.Numeric marshals as a JSON number.
		b, err := x.MarshalJSON()
		if err != nil {
			return 0, err
		}
		return strconv.ParseFloat(string(b), 64)
	}
	return 0, fmt.Errorf("unsupported type %T", v)
}

func asTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		t, _, err := ParseTime(x)
		return t, err
	}
	return time.Time{}, fmt.Errorf("unsupported type %T", v)
}

func asJSON(v any) (json.RawMessage, error) {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil, nil
		}
		if !json.Valid([]byte(x)) {
			return nil, fmt.Errorf("not valid JSON")
		}
		return json.RawMessage(x), nil
	case []byte:
		if !json.Valid(x) {
			return nil, fmt.Errorf("not valid JSON")
		}
		return json.RawMessage(x), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return b, nil
}
