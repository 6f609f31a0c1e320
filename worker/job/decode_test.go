package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chorusml/chorus/worker/errkind"
)

const sample = `{"response_id":"r-1842","tenant":"acme","text":"Support was quick but the app keeps crashing.",
 "score":6,"survey_id":"nps-2026-q4","created_at":"2026-11-02T10:14:00Z","lang":"en","metadata":{"plan":"pro"}}`

var testLimits = Limits{MaxTextBytes: 100, MaxJobsPerMessage: 3, MaxMessageBytes: 4096, MaxKeyBytes: 64, MaxAttributeBytes: 64}

func TestDecodeSample(t *testing.T) {
	entries, err := Decode([]byte(sample), nil, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Err != nil {
		t.Fatalf("entries = %+v", entries)
	}
	got := entries[0].Job
	score := 6.0
	created := time.Date(2026, 11, 2, 10, 14, 0, 0, time.UTC)
	want := Job{
		ResponseID: "r-1842", Tenant: "acme", Text: "Support was quick but the app keeps crashing.",
		Score: &score, SurveyID: "nps-2026-q4", CreatedAt: &created, Lang: "en",
		Metadata: json.RawMessage(`{"plan":"pro"}`),
	}
	if got.ResponseID != want.ResponseID || got.Tenant != want.Tenant || got.Text != want.Text ||
		got.SurveyID != want.SurveyID || got.Lang != want.Lang ||
		got.Score == nil || *got.Score != score || got.CreatedAt == nil || !got.CreatedAt.Equal(created) ||
		!bytes.Equal(got.Metadata, want.Metadata) {
		t.Errorf("job = %+v, want %+v", got, want)
	}
	if string(entries[0].Raw) != sample {
		t.Errorf("raw = %s", entries[0].Raw)
	}
	// The decoder must agree with encoding/json on everything it accepts.
	var ref Job
	if err := json.Unmarshal([]byte(sample), &ref); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(ref)
	if !bytes.Equal(a, b) {
		t.Errorf("decode = %s\nencoding/json = %s", a, b)
	}
}

// job builds a valid job object with one field replaced (or removed, when
// val is "").
func job(field, val string) string {
	fields := []struct{ k, v string }{
		{"response_id", `"r-1"`}, {"tenant", `"acme"`}, {"text", `"great app"`},
	}
	var b strings.Builder
	b.WriteString("{")
	seen := false
	for _, f := range fields {
		v := f.v
		if f.k == field {
			seen = true
			if val == "" {
				continue
			}
			v = val
		}
		if b.Len() > 1 {
			b.WriteString(",")
		}
		b.WriteString(strconv.Quote(f.k) + ":" + v)
	}
	if !seen && val != "" {
		b.WriteString("," + strconv.Quote(field) + ":" + val)
	}
	b.WriteString("}")
	return b.String()
}

func TestDecodeMessageErrors(t *testing.T) {
	tests := []struct {
		name, body string
		reason     errkind.Reason
	}{
		{"empty body", "", ReasonEmptyMessage},
		{"only whitespace", " \n\t", ReasonEmptyMessage},
		{"empty array", " [ ] ", ReasonEmptyMessage},
		{"too large", job("extra", `"`+strings.Repeat("x", 4096)+`"`), ReasonMessageTooLarge},
		{"too many jobs", "[" + strings.Repeat(job("", "")+",", 3) + job("", "") + "]", ReasonTooManyJobs},
		{"trailing garbage", job("", "") + "x", ReasonMalformedJSON},
		{"two objects", job("", "") + job("", ""), ReasonMalformedJSON},
		{"unterminated", `{"response_id":"r-1"`, ReasonMalformedJSON},
		{"unterminated array", `[` + job("", ""), ReasonMalformedJSON},
		{"array trailing comma", `[` + job("", "") + `,]`, ReasonMalformedJSON},
		{"object trailing comma", `{"text":"x",}`, ReasonMalformedJSON},
		{"top-level string", `"hello"`, ReasonMalformedJSON},
		{"top-level number", `42`, ReasonMalformedJSON},
		{"top-level null", `null`, ReasonMalformedJSON},
		{"garbage", `hello`, ReasonMalformedJSON},
		{"bad escape", job("text", `"a\x"`), ReasonMalformedJSON},
		{"bad unicode escape", job("text", `"a\u12"`), ReasonMalformedJSON},
		{"control char in string", job("text", "\"a\tb\""), ReasonMalformedJSON},
		{"bad number", job("score", `01`), ReasonMalformedJSON},
		{"bad literal", job("score", `nul`), ReasonMalformedJSON},
		{"syntax error in a later job", `[` + job("", "") + `,{"text":]`, ReasonMalformedJSON},
		{"syntax error in unknown field", job("extra", `{"a":[1,2,}`), ReasonMalformedJSON},
		{"byte order mark", "\xef\xbb\xbf" + job("", ""), ReasonMalformedJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := Decode([]byte(tt.body), nil, testLimits)
			checkMessageErr(t, entries, err, tt.body, tt.reason)
		})
	}
	for _, a := range []string{AttrRunID, AttrPipeline, AttrTenant} {
		t.Run("attribute "+a+" too long", func(t *testing.T) {
			entries, err := Decode([]byte(job("", "")), map[string]string{a: strings.Repeat("x", 3000)}, testLimits)
			checkMessageErr(t, entries, err, "", ReasonFieldTooLong)
		})
	}
}

func checkMessageErr(t *testing.T, entries []Entry, err error, body string, reason errkind.Reason) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; entries = %+v", entries)
	}
	if entries != nil {
		t.Errorf("entries = %+v, want nil with a message error", entries)
	}
	if k := errkind.KindOf(err); k != errkind.InvalidInput {
		t.Errorf("kind = %v, want invalid_input", k)
	}
	if r := errkind.ReasonOf(err); r != reason {
		t.Errorf("reason = %q, want %q (%v)", r, reason, err)
	}
	var ie *InputError
	if !errors.As(err, &ie) || ie.Index != -1 || ie.Reason != reason {
		t.Errorf("InputError = %+v", ie)
	}
	if json.Valid([]byte(body)) && reason == ReasonMalformedJSON && body[0] != '"' && body[0] != '4' && body[0] != 'n' {
		t.Errorf("encoding/json accepts %q", body)
	}
}

func TestDecodeJobErrors(t *testing.T) {
	long := strings.Repeat("é", 51) // 102 bytes > 100
	tests := []struct {
		name   string
		body   string
		attrs  map[string]string
		field  string
		reason errkind.Reason
		detail string // substring of the message, when set
	}{
		{"no response_id", job("response_id", ""), nil, "response_id", ReasonMissingField, "is absent"},
		{"null response_id", job("response_id", "null"), nil, "response_id", ReasonMissingField, "is null"},
		{"empty response_id", job("response_id", `""`), nil, "response_id", ReasonMissingField, "is empty"},
		{"no tenant", job("tenant", ""), nil, "tenant", ReasonMissingField, "is absent and the message has no tenant attribute"},
		{"null tenant", job("tenant", "null"), nil, "tenant", ReasonMissingField, "is null"},
		{"no text", job("text", ""), nil, "text", ReasonMissingField, "is absent"},
		{"null text", job("text", "null"), nil, "text", ReasonMissingField, "is null"},
		{"text is a number", job("text", "12"), nil, "text", ReasonInvalidField, "is a number, want a string"},
		{"text is an object", job("text", `{"a":1}`), nil, "text", ReasonInvalidField, "is an object, want a string"},
		{"tenant is a boolean", job("tenant", "true"), nil, "tenant", ReasonInvalidField, "is a boolean"},
		{"score is a string", job("score", `"6"`), nil, "score", ReasonInvalidField, "want a number"},
		{"score out of range", job("score", `1e400`), nil, "score", ReasonInvalidField, "out of range"},
		{"created_at not RFC 3339", job("created_at", `"2026-11-02 10:14"`), nil, "created_at", ReasonInvalidField, "not an RFC 3339 time"},
		{"created_at is a number", job("created_at", `1700000000`), nil, "created_at", ReasonInvalidField, "want a string"},
		{"metadata is a string", job("metadata", `"x"`), nil, "metadata", ReasonInvalidField, "want an object"},
		{"lang is an array", job("lang", `["en"]`), nil, "lang", ReasonInvalidField, "is an array"},
		{"duplicate tenant", `{"response_id":"r","tenant":"a","tenant":"b","text":"x"}`, nil, "tenant", ReasonInvalidField, "more than once"},
		{"empty text", job("text", `""`), nil, "text", ReasonEmptyText, ""},
		{"blank text", job("text", `" \n\t\u00a0\u3000 "`), nil, "text", ReasonEmptyText, ""},
		{"text too long", job("text", `"`+long+`"`), nil, "text", ReasonTextTooLong, "102 bytes, limit is 100"},
		{"text too long after unescaping", job("text", `"`+strings.Repeat(`\u00e9`, 51)+`"`), nil, "text", ReasonTextTooLong, "102 bytes"},
		{"invalid utf-8 text", job("text", "\"bad \xff byte\""), nil, "text", ReasonInvalidUTF8, ""},
		{"truncated utf-8 text", job("text", "\"bad \xc3\""), nil, "text", ReasonInvalidUTF8, ""},
		{"lone surrogate text", job("text", `"bad \ud800 x"`), nil, "text", ReasonInvalidUTF8, ""},
		{"invalid utf-8 response_id", job("response_id", "\"r\xfe\""), nil, "response_id", ReasonInvalidUTF8, ""},
		{"invalid utf-8 tenant", job("tenant", "\"\xc0\xaf\""), nil, "tenant", ReasonInvalidUTF8, ""},
		{"invalid utf-8 metadata", job("metadata", "{\"k\":\"\xff\"}"), nil, "metadata", ReasonInvalidUTF8, ""},
		{"tenant mismatch", job("", ""), map[string]string{AttrTenant: "globex"}, "tenant", ReasonTenantMismatch, `"acme" differs from the message's tenant attribute "globex"`},
		{"invalid utf-8 tenant attribute", job("tenant", ""), map[string]string{AttrTenant: "\xff"}, "tenant", ReasonInvalidUTF8, ""},
		{"response_id too long", job("response_id", `"`+strings.Repeat("r", 65)+`"`), nil, "response_id", ReasonFieldTooLong, "65 bytes, limit is 64"},
		{"tenant too long", job("tenant", `"`+strings.Repeat("t", 65)+`"`), nil, "tenant", ReasonFieldTooLong, "limit is 64"},
		{"survey_id too long", job("survey_id", `"`+strings.Repeat("s", 65)+`"`), nil, "survey_id", ReasonFieldTooLong, "limit is 64"},
		{"not an object", `[` + job("", "") + `, "hello"]`, nil, "", ReasonInvalidField, "is a string, want an object"},
		{"null job", `[` + job("", "") + `, null]`, nil, "", ReasonInvalidField, "is null, want an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := Decode([]byte(tt.body), tt.attrs, testLimits)
			if err != nil {
				t.Fatal(err)
			}
			e := entries[len(entries)-1]
			if e.Err == nil {
				t.Fatalf("no error; job = %+v", e.Job)
			}
			if k := errkind.KindOf(e.Err); k != errkind.InvalidInput {
				t.Errorf("kind = %v", k)
			}
			if r := errkind.ReasonOf(e.Err); r != tt.reason {
				t.Errorf("reason = %q, want %q (%v)", r, tt.reason, e.Err)
			}
			var ie *InputError
			if !errors.As(e.Err, &ie) {
				t.Fatalf("not an InputError: %v", e.Err)
			}
			if ie.Field != tt.field || ie.Index != len(entries)-1 {
				t.Errorf("field, index = %q, %d; want %q, %d", ie.Field, ie.Index, tt.field, len(entries)-1)
			}
			if !strings.Contains(e.Err.Error(), tt.detail) {
				t.Errorf("error %q does not say %q", e.Err, tt.detail)
			}
			if len(e.Raw) == 0 {
				t.Error("Raw is empty")
			}
			if len(entries) > 1 && entries[0].Err != nil {
				t.Errorf("the valid job before was rejected: %v", entries[0].Err)
			}
		})
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	body := `[` + strings.Repeat(job("", "")+",", 3) + job("text", `"`+strings.Repeat("x", 12034)+`"`) + `]`
	entries, err := Decode([]byte(body), nil, Limits{MaxTextBytes: 10000})
	if err != nil {
		t.Fatal(err)
	}
	const want = `text_too_long: job 3: field "text": 12034 bytes, limit is 10000`
	if got := entries[3].Err.Error(); got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	_, err = Decode([]byte(body), nil, Limits{MaxMessageBytes: 100})
	if got := err.Error(); !strings.HasPrefix(got, "message_too_large: message: ") {
		t.Errorf("error = %q", got)
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		attrs map[string]string
		check func(t *testing.T, j Job)
	}{
		{"unknown fields ignored", job("future", `{"nested":[1,{"a":null}],"b":"\u00e9"}`), nil, nil},
		{"null optionals", `{"response_id":"r","tenant":"t","text":"x","score":null,"created_at":null,"metadata":null,"lang":null}`, nil,
			func(t *testing.T, j Job) {
				if j.Score != nil || j.CreatedAt != nil || j.Metadata != nil {
					t.Errorf("job = %+v", j)
				}
			}},
		{"tenant from attribute", job("tenant", ""), map[string]string{AttrTenant: "globex"},
			func(t *testing.T, j Job) {
				if j.Tenant != "globex" {
					t.Errorf("tenant = %q", j.Tenant)
				}
			}},
		{"null tenant from attribute", job("tenant", "null"), map[string]string{AttrTenant: "globex"}, nil},
		{"tenant matches attribute", job("", ""), map[string]string{AttrTenant: "acme"}, nil},
		{"escapes", job("text", `"a\"b\\c\/d\n\u00e9\ud83d\ude00"`), nil,
			func(t *testing.T, j Job) {
				if want := "a\"b\\c/d\né😀"; j.Text != want {
					t.Errorf("text = %q, want %q", j.Text, want)
				}
			}},
		{"escaped key", `{"response_id":"r","tenant":"t","te\u0078t":"x"}`, nil, nil},
		{"case-sensitive keys", `{"response_id":"r","tenant":"t","text":"x","Text":1}`, nil, nil},
		{"text at the limit", job("text", `"`+strings.Repeat("x", 100)+`"`), nil, nil},
		{"negative exponent score", job("score", `-1.5e-3`), nil,
			func(t *testing.T, j Job) {
				if j.Score == nil || *j.Score != -1.5e-3 {
					t.Errorf("score = %v", j.Score)
				}
			}},
		{"created_at with offset", job("created_at", `"2026-11-02T10:14:00.5+02:00"`), nil,
			func(t *testing.T, j Job) {
				if want := time.Date(2026, 11, 2, 8, 14, 0, 5e8, time.UTC); j.CreatedAt == nil || !j.CreatedAt.Equal(want) {
					t.Errorf("created_at = %v", j.CreatedAt)
				}
			}},
		{"whitespace everywhere", " \n[ \t" + `{ "response_id" : "r" , "tenant" : "t" , "text" : "x" }` + " ] \r\n", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := Decode([]byte(tt.body), tt.attrs, testLimits)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Err != nil {
				t.Fatalf("entries = %+v", entries)
			}
			if tt.check != nil {
				tt.check(t, entries[0].Job)
			}
		})
	}
}

func TestDecodeArrayKeepsGoodJobs(t *testing.T) {
	body := `[` + job("", "") + `,` + job("text", `""`) + `, 7 ,` + job("response_id", `"r-4"`) + `]`
	entries, err := Decode([]byte(body), nil, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	wantErr := []errkind.Reason{"", ReasonEmptyText, ReasonInvalidField, ""}
	if len(entries) != len(wantErr) {
		t.Fatalf("%d entries, want %d", len(entries), len(wantErr))
	}
	for i, e := range entries {
		if got := reasonOrEmpty(e.Err); got != wantErr[i] {
			t.Errorf("entry %d: reason %q, want %q", i, got, wantErr[i])
		}
	}
	if string(entries[2].Raw) != "7" {
		t.Errorf("raw of the non-object = %q", entries[2].Raw)
	}
	if entries[3].Job.ResponseID != "r-4" {
		t.Errorf("job 3 = %+v", entries[3].Job)
	}
}

func reasonOrEmpty(err error) errkind.Reason {
	if err == nil {
		return ""
	}
	return errkind.ReasonOf(err)
}

func TestDecodeDeepNesting(t *testing.T) {
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	_, err := Decode([]byte(job("extra", deep)), nil, Limits{})
	if errkind.ReasonOf(err) != ReasonMalformedJSON {
		t.Errorf("err = %v, want malformed_json", err)
	}
}

// fuzzLimits are small so that the fuzzer reaches every limit.
var fuzzLimits = Limits{MaxTextBytes: 64, MaxJobsPerMessage: 8, MaxMessageBytes: 1 << 12}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		sample,
		"[" + sample + "," + sample + "]",
		job("", ""), job("text", `"\ud83d\ude00 \u00e9"`), job("text", `"\ud800"`),
		job("text", "\"\xff\""), job("score", "-0.5e+2"), job("created_at", `"2026-11-02T10:14:00Z"`),
		job("metadata", `{"a":[true,false,null,{}]}`), job("tenant", ""), job("response_id", `""`),
		`[1, "a", null, {}, []]`, `[]`, ``, `{`, `[{"text":"x"},]`, `{"a":1}x`, `nul`, `-`, `"\u12"`,
		`{"response_id":"r","tenant":"t","text":"x","tenant":"u"}`,
		"[" + strings.Repeat(job("", "")+",", 8) + job("", "") + "]",
		strings.Repeat("[", 50),
	} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "acme")
	}
	f.Fuzz(func(t *testing.T, body []byte, attrTenant string) {
		var attrs map[string]string
		if attrTenant != "" {
			attrs = map[string]string{AttrTenant: attrTenant}
		}
		orig := bytes.Clone(body)
		entries, err := Decode(body, attrs, fuzzLimits)
		if !bytes.Equal(body, orig) {
			t.Fatal("Decode modified the body")
		}
		valid := json.Valid(body)
		if err != nil {
			if entries != nil {
				t.Fatal("entries with a message error")
			}
			if k := errkind.KindOf(err); k != errkind.InvalidInput {
				t.Fatalf("message error kind %v: %v", k, err)
			}
			var ie *InputError
			if !errors.As(err, &ie) || ie.Index != -1 {
				t.Fatalf("message error is not an InputError: %v", err)
			}
			if r := errkind.ReasonOf(err); r == ReasonMalformedJSON && valid {
				top := bytes.TrimLeft(body, " \t\r\n")
				if top[0] == '{' || top[0] == '[' {
					t.Fatalf("valid JSON reported malformed: %v", err)
				}
			}
			return
		}
		if !valid {
			t.Fatalf("invalid JSON accepted: %q", body)
		}
		if len(entries) == 0 || len(entries) > fuzzLimits.MaxJobsPerMessage {
			t.Fatalf("%d entries", len(entries))
		}
		for i, e := range entries {
			if len(e.Raw) == 0 || !json.Valid(e.Raw) {
				t.Fatalf("entry %d: raw %q", i, e.Raw)
			}
			if e.Err != nil {
				var ie *InputError
				if errkind.KindOf(e.Err) != errkind.InvalidInput || !errors.As(e.Err, &ie) || ie.Index != i {
					t.Fatalf("entry %d: error %v", i, e.Err)
				}
				continue
			}
			checkValid(t, e, attrTenant)
		}
	})
}

// checkValid asserts the invariants of an accepted job and compares it with
// what encoding/json makes of the same bytes.
func checkValid(t *testing.T, e Entry, attrTenant string) {
	t.Helper()
	j := e.Job
	for name, s := range map[string]string{"response_id": j.ResponseID, "tenant": j.Tenant, "text": j.Text} {
		if s == "" || !utf8.ValidString(s) {
			t.Fatalf("accepted job with %s %q", name, s)
		}
	}
	if isBlank(j.Text) || len(j.Text) > fuzzLimits.MaxTextBytes {
		t.Fatalf("accepted text %q", j.Text)
	}
	if attrTenant != "" && j.Tenant != attrTenant {
		t.Fatalf("tenant %q, attribute %q", j.Tenant, attrTenant)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(e.Raw, &m); err != nil {
		t.Fatalf("encoding/json rejects accepted job %q: %v", e.Raw, err)
	}
	str := func(k string) string {
		var s string
		if raw, ok := m[k]; ok {
			if err := json.Unmarshal(raw, &s); err != nil && string(raw) != "null" {
				t.Fatalf("%s: %v", k, err)
			}
		}
		return s
	}
	if str("response_id") != j.ResponseID || str("text") != j.Text || str("lang") != j.Lang || str("survey_id") != j.SurveyID {
		t.Fatalf("job %+v differs from encoding/json's %q", j, e.Raw)
	}
	if tn := str("tenant"); tn != j.Tenant && (tn != "" || j.Tenant != attrTenant) {
		t.Fatalf("tenant %q, encoding/json %q", j.Tenant, tn)
	}
	if raw, ok := m["score"]; ok && string(raw) != "null" {
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil || j.Score == nil || *j.Score != f {
			t.Fatalf("score %v, encoding/json %v (%v)", j.Score, f, err)
		}
	}
	if raw, ok := m["created_at"]; ok && string(raw) != "null" {
		var ts time.Time
		if err := json.Unmarshal(raw, &ts); err != nil || j.CreatedAt == nil || !j.CreatedAt.Equal(ts) {
			t.Fatalf("created_at %v, encoding/json %v (%v)", j.CreatedAt, ts, err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	one := []byte(sample)
	arr := []byte("[" + strings.Repeat(sample+",", 99) + sample + "]")
	lim := Limits{MaxTextBytes: 10000, MaxJobsPerMessage: 1000, MaxMessageBytes: 10 << 20}
	attrs := map[string]string{AttrTenant: "acme"}
	for _, bc := range []struct {
		name string
		body []byte
		jobs int
	}{{"object", one, 1}, {"array100", arr, 100}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				entries, err := Decode(bc.body, attrs, lim)
				if err != nil || len(entries) != bc.jobs || entries[0].Err != nil {
					b.Fatal(err, entries)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.jobs), "ns/job")
		})
	}
	b.Run("encoding-json-object", func(b *testing.B) {
		// Reference point only: what a plain json.Unmarshal of one job costs.
		b.ReportAllocs()
		for b.Loop() {
			var j Job
			if err := json.Unmarshal(one, &j); err != nil {
				b.Fatal(err)
			}
		}
	})
}
