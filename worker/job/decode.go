package job

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chorusml/chorus/worker/errkind"
)

// Reasons Decode reports, as errkind reasons (metric labels and dead-letter
// attributes). All of them are errkind.InvalidInput.
const (
	// Message level: the whole body is dead-lettered.
	ReasonMessageTooLarge errkind.Reason = "message_too_large"
	ReasonMalformedJSON   errkind.Reason = "malformed_json"
	ReasonEmptyMessage    errkind.Reason = "empty_message"
	ReasonTooManyJobs     errkind.Reason = "too_many_jobs"
	// Job level: only that job is dead-lettered.
	ReasonMissingField   errkind.Reason = "missing_field"
	ReasonInvalidField   errkind.Reason = "invalid_field"
	ReasonEmptyText      errkind.Reason = "empty_text"
	ReasonTextTooLong    errkind.Reason = "text_too_long"
	ReasonInvalidUTF8    errkind.Reason = "invalid_utf8"
	ReasonTenantMismatch errkind.Reason = "tenant_mismatch"
	ReasonFieldTooLong   errkind.Reason = "field_too_long"
)

// Limits bound what Decode accepts. A zero field means no limit, so that a
// test can decode without building a config; the worker passes the
// defaulted values from config.Limits.
type Limits struct {
	MaxTextBytes      int
	MaxJobsPerMessage int
	MaxMessageBytes   int
	// MaxKeyBytes bounds response_id, tenant and survey_id: they form the
	// sink's keys, and Postgres refuses a btree entry over ~2.7 KB, which
	// would fail the job's whole write batch rather than the job.
	MaxKeyBytes int
	// MaxAttributeBytes bounds the run_id, pipeline and tenant attributes,
	// which are written into rows and dead letters.
	MaxAttributeBytes int
}

// Entry is one job of a message. When Err is non-nil the job is invalid and
// Raw is what gets dead-lettered; Job then holds whatever fields did decode,
// so that logs can still name the response and tenant.
type Entry struct {
	Job Job
	// Raw is the job's JSON exactly as it appeared in the body. It aliases
	// the body passed to Decode, so the body must not be reused while the
	// entry is in use.
	Raw json.RawMessage
	Err error
}

// InputError says what is wrong with a message or one of its jobs. Decode
// returns it wrapped in an *errkind.Error of kind InvalidInput with the same
// Reason, so errkind.KindOf and errkind.ReasonOf work on it and errors.As
// recovers the details.
type InputError struct {
	// Index is the job's position in the message (0-based), or -1 for a
	// problem with the message as a whole.
	Index  int
	Field  string         // JSON field name; empty when the problem is not one field
	Reason errkind.Reason // one of the Reason constants
	Detail string
}

func (e *InputError) Error() string {
	var b strings.Builder
	if e.Index >= 0 {
		b.WriteString("job ")
		b.WriteString(strconv.Itoa(e.Index))
		b.WriteString(": ")
	} else {
		b.WriteString("message: ")
	}
	if e.Field != "" {
		b.WriteString("field ")
		b.WriteString(strconv.Quote(e.Field))
		b.WriteString(": ")
	}
	b.WriteString(e.Detail)
	return b.String()
}

func inputErr(index int, field string, reason errkind.Reason, detail string) error {
	return errkind.New(errkind.InvalidInput, reason,
		&InputError{Index: index, Field: field, Reason: reason, Detail: detail})
}

// maxDepth matches encoding/json, so that Decode and json.Valid agree on
// what is JSON, and bounds the recursion a hostile body can cause.
const maxDepth = 10000

// Decode parses a message body holding one job object or an array of them.
//
// A non-nil error means the message as a whole is unusable
// (message_too_large, malformed_json, empty_message, too_many_jobs) and is
// dead-lettered. Otherwise every job gets an Entry, in body order; a job
// that is invalid has Entry.Err set and does not stop the others.
//
// attrs["tenant"], when set, fills the tenant of jobs that have none
// (absent, null or "") and must match the tenant of those that do.
//
// Job strings share one copy of the body and Raw and Metadata alias body
// itself, so the caller must not modify body while the entries are in use.
//
// Decode is a hand-written single-pass parser rather than encoding/json
// because it runs once per job on the hot path: it validates the whole body
// as JSON, reports errors per field, sees invalid UTF-8 that encoding/json
// would silently replace, and takes every unescaped string as a substring of
// one copy of the body, so a job costs a handful of allocations.
//
// Field names match exactly (encoding/json would also accept "Text"), a
// known field given twice is invalid, unknown fields are ignored, and null
// counts as absent.
func Decode(body []byte, attrs map[string]string, lim Limits) ([]Entry, error) {
	if lim.MaxMessageBytes > 0 && len(body) > lim.MaxMessageBytes {
		return nil, inputErr(-1, "", ReasonMessageTooLarge,
			fmt.Sprintf("%d bytes, limit is %d", len(body), lim.MaxMessageBytes))
	}
	if lim.MaxAttributeBytes > 0 {
		for _, a := range []string{AttrRunID, AttrPipeline, AttrTenant} {
			if v := attrs[a]; len(v) > lim.MaxAttributeBytes {
				return nil, inputErr(-1, "", ReasonFieldTooLong,
					fmt.Sprintf("attribute %s is %d bytes, limit is %d", a, len(v), lim.MaxAttributeBytes))
			}
		}
	}
	d := decoder{body: body, lim: lim}
	if t, ok := attrs[AttrTenant]; ok && t != "" {
		d.attrTenant = t
		d.attrTenantOK = utf8.ValidString(t)
	}
	d.skipWS()
	if d.pos == len(body) {
		return nil, inputErr(-1, "", ReasonEmptyMessage, "body is empty")
	}
	var entries []Entry
	switch body[d.pos] {
	case '{':
		entries = make([]Entry, 1)
		if err := d.element(0, &entries[0]); err != nil {
			return nil, err
		}
	case '[':
		d.pos++
		d.depth++
		d.skipWS()
		if d.pos < len(body) && body[d.pos] == ']' {
			d.pos++
			if err := d.end(); err != nil {
				return nil, err
			}
			return nil, inputErr(-1, "", ReasonEmptyMessage, "array holds no jobs")
		}
		for i := 0; ; i++ {
			if lim.MaxJobsPerMessage > 0 && i == lim.MaxJobsPerMessage {
				return nil, inputErr(-1, "", ReasonTooManyJobs,
					fmt.Sprintf("more than the limit of %d jobs", lim.MaxJobsPerMessage))
			}
			entries = append(entries, Entry{})
			if err := d.element(i, &entries[i]); err != nil {
				return nil, err
			}
			d.skipWS()
			if d.pos == len(body) {
				return nil, d.syntaxErr("unexpected end of input in array")
			}
			c := body[d.pos]
			d.pos++
			if c == ']' {
				break
			}
			if c != ',' {
				d.pos--
				return nil, d.syntaxErr("after array element: " + d.found())
			}
			d.skipWS()
		}
		d.depth--
	default:
		kind := body[d.pos]
		if err := d.skipValue(); err != nil {
			return nil, err
		}
		return nil, inputErr(-1, "", ReasonMalformedJSON,
			"top-level value is "+kindName(kind)+", want an object or an array of objects")
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return entries, nil
}

// end checks that nothing but whitespace follows the top-level value.
func (d *decoder) end() error {
	d.skipWS()
	if d.pos != len(d.body) {
		return d.syntaxErr("after top-level value: " + d.found())
	}
	return nil
}

type decoder struct {
	body  []byte
	s     string // string(body), made on first use; job strings are substrings of it
	pos   int
	depth int
	lim   Limits

	attrTenant   string
	attrTenantOK bool

	// The job being decoded, for setErr.
	cur *Entry
	idx int

	// Chunks that Score and CreatedAt point into, so that a 100-job array
	// costs a few allocations for them instead of 200.
	floats []float64
	times  []time.Time
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (d *decoder) skipWS() {
	for d.pos < len(d.body) && isWS(d.body[d.pos]) {
		d.pos++
	}
}

func (d *decoder) sub(start, end int) string {
	if d.s == "" {
		d.s = string(d.body)
	}
	return d.s[start:end]
}

func (d *decoder) syntaxErr(msg string) error {
	return inputErr(-1, "", ReasonMalformedJSON, fmt.Sprintf("offset %d: %s", d.pos, msg))
}

// found describes the byte at pos for a syntax error.
func (d *decoder) found() string {
	if d.pos >= len(d.body) {
		return "unexpected end of input"
	}
	return fmt.Sprintf("unexpected character %q", d.body[d.pos])
}

func kindName(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// element decodes array element (or top-level object) i into e. A returned
// error is a syntax error for the whole message; job problems go to e.Err.
func (d *decoder) element(i int, e *Entry) error {
	start := d.pos
	if d.pos >= len(d.body) {
		return d.syntaxErr("want a value: unexpected end of input")
	}
	if d.body[d.pos] != '{' {
		if err := d.skipValue(); err != nil {
			return err
		}
		e.Raw = d.body[start:d.pos]
		e.Err = inputErr(i, "", ReasonInvalidField, "is "+kindName(d.body[start])+", want an object")
		return nil
	}
	err := d.job(i, e)
	e.Raw = d.body[start:d.pos]
	return err
}

// Known job fields, as bits so that a repeated field is caught cheaply.
const (
	fResponseID = 1 << iota
	fTenant
	fText
	fScore
	fSurveyID
	fCreatedAt
	fLang
	fMetadata
)

var fieldNames = [...]string{"response_id", "tenant", "text", "score", "survey_id", "created_at", "lang", "metadata"}

// knownField returns the bit and name of a known job field, or 0.
func knownField(key []byte) (int, string) {
	for i, name := range fieldNames {
		if string(key) == name {
			return 1 << i, name
		}
	}
	return 0, ""
}

// value is the span of one JSON value in the body. For a string, start and
// end bound the content without the quotes.
type value struct {
	kind       byte // first byte: '"', '{', '[', 't', 'f', 'n' or a number's first byte
	start, end int
	escaped    bool // string holds backslash escapes
	nonASCII   bool // string holds bytes ≥ 0x80
}

func (d *decoder) job(i int, e *Entry) error {
	b := d.body
	j := &e.Job
	d.pos++ // '{'
	d.depth++
	if d.depth > maxDepth {
		return d.syntaxErr("exceeded max nesting depth")
	}
	d.cur, d.idx = e, i
	// seen: known fields met; got: those with a non-null value.
	var seen, got int
	d.skipWS()
	if d.pos < len(b) && b[d.pos] == '}' {
		d.pos++
	} else {
		for {
			if d.pos >= len(b) || b[d.pos] != '"' {
				return d.syntaxErr("want an object key: " + d.found())
			}
			kv, err := d.scanString()
			if err != nil {
				return err
			}
			key := b[kv.start:kv.end]
			if kv.escaped {
				// Rare: decode so that "te\u0078t" means "text", as in JSON.
				s, _ := d.unescape(kv)
				key = []byte(s)
			}
			d.skipWS()
			if d.pos >= len(b) || b[d.pos] != ':' {
				return d.syntaxErr("after object key: " + d.found())
			}
			d.pos++
			d.skipWS()
			v, err := d.scanValue()
			if err != nil {
				return err
			}
			if bit, name := knownField(key); bit != 0 {
				if seen&bit != 0 {
					d.setErr(name, ReasonInvalidField, "appears more than once")
				}
				seen |= bit
				if v.kind != 'n' {
					got |= bit
					d.field(bit, name, v, j)
				}
			}
			d.skipWS()
			if d.pos >= len(b) {
				return d.syntaxErr("unexpected end of input in object")
			}
			c := b[d.pos]
			d.pos++
			if c == '}' {
				break
			}
			if c != ',' {
				d.pos--
				return d.syntaxErr("after object value: " + d.found())
			}
			d.skipWS()
		}
	}
	d.depth--
	if e.Err != nil {
		return nil
	}
	switch {
	case j.ResponseID == "":
		d.setErr("response_id", ReasonMissingField, missing(seen&fResponseID != 0, got&fResponseID != 0))
	case j.Tenant == "" && d.attrTenant == "":
		d.setErr("tenant", ReasonMissingField,
			missing(seen&fTenant != 0, got&fTenant != 0)+" and the message has no tenant attribute")
	case j.Tenant == "" && !d.attrTenantOK:
		d.setErr("tenant", ReasonInvalidUTF8, "the message's tenant attribute is not valid UTF-8")
	case j.Tenant != "" && d.attrTenant != "" && j.Tenant != d.attrTenant:
		d.setErr("tenant", ReasonTenantMismatch,
			fmt.Sprintf("%s differs from the message's tenant attribute %s", quoteShort(j.Tenant), quoteShort(d.attrTenant)))
	case got&fText == 0:
		d.setErr("text", ReasonMissingField, missing(seen&fText != 0, false))
	case isBlank(j.Text):
		d.setErr("text", ReasonEmptyText, "is empty or only whitespace")
	case d.lim.MaxTextBytes > 0 && len(j.Text) > d.lim.MaxTextBytes:
		d.setErr("text", ReasonTextTooLong, fmt.Sprintf("%d bytes, limit is %d", len(j.Text), d.lim.MaxTextBytes))
	case d.lim.MaxKeyBytes > 0 && len(j.ResponseID) > d.lim.MaxKeyBytes:
		d.setErr("response_id", ReasonFieldTooLong, fmt.Sprintf("%d bytes, limit is %d", len(j.ResponseID), d.lim.MaxKeyBytes))
	case d.lim.MaxKeyBytes > 0 && len(j.Tenant) > d.lim.MaxKeyBytes:
		d.setErr("tenant", ReasonFieldTooLong, fmt.Sprintf("%d bytes, limit is %d", len(j.Tenant), d.lim.MaxKeyBytes))
	case d.lim.MaxKeyBytes > 0 && len(j.SurveyID) > d.lim.MaxKeyBytes:
		d.setErr("survey_id", ReasonFieldTooLong, fmt.Sprintf("%d bytes, limit is %d", len(j.SurveyID), d.lim.MaxKeyBytes))
	}
	if e.Err == nil && j.Tenant == "" {
		j.Tenant = d.attrTenant
	}
	return nil
}

// setErr records a problem with the current job. The first one wins: the
// rest of the object is still parsed, because a syntax error anywhere in the
// body condemns the whole message.
func (d *decoder) setErr(field string, reason errkind.Reason, detail string) {
	if d.cur.Err == nil {
		d.cur.Err = inputErr(d.idx, field, reason, detail)
	}
}

func missing(seen, nonNull bool) string {
	switch {
	case nonNull:
		return "is empty"
	case seen:
		return "is null"
	}
	return "is absent"
}

// field stores one known, non-null field value into j.
func (d *decoder) field(bit int, name string, v value, j *Job) {
	switch bit {
	case fScore:
		if !isNumberStart(v.kind) {
			d.setErr(name, ReasonInvalidField, "is "+kindName(v.kind)+", want a number")
			return
		}
		f, err := strconv.ParseFloat(d.sub(v.start, v.end), 64)
		if err != nil {
			d.setErr(name, ReasonInvalidField, fmt.Sprintf("number %s is out of range", d.short(v)))
			return
		}
		if len(d.floats) == cap(d.floats) {
			d.floats = make([]float64, 0, 2*cap(d.floats)+1)
		}
		d.floats = append(d.floats, f)
		j.Score = &d.floats[len(d.floats)-1]
		return
	case fMetadata:
		if v.kind != '{' {
			d.setErr(name, ReasonInvalidField, "is "+kindName(v.kind)+", want an object")
			return
		}
		if !utf8.Valid(d.body[v.start:v.end]) {
			d.setErr(name, ReasonInvalidUTF8, "is not valid UTF-8")
			return
		}
		j.Metadata = d.body[v.start:v.end]
		return
	}
	if v.kind != '"' {
		d.setErr(name, ReasonInvalidField, "is "+kindName(v.kind)+", want a string")
		return
	}
	s, ok := d.str(v)
	if !ok {
		d.setErr(name, ReasonInvalidUTF8, "is not valid UTF-8")
		return
	}
	switch bit {
	case fResponseID:
		j.ResponseID = s
	case fTenant:
		j.Tenant = s
	case fText:
		j.Text = s
	case fSurveyID:
		j.SurveyID = s
	case fLang:
		j.Lang = s
	case fCreatedAt:
		var t time.Time
		raw := d.body[v.start:v.end]
		if v.escaped {
			raw = []byte(s)
		}
		// UnmarshalText is the strict RFC 3339 parser encoding/json uses.
		if err := t.UnmarshalText(raw); err != nil {
			d.setErr(name, ReasonInvalidField, quoteShort(s)+" is not an RFC 3339 time")
			return
		}
		if len(d.times) == cap(d.times) {
			d.times = make([]time.Time, 0, 2*cap(d.times)+1)
		}
		d.times = append(d.times, t)
		j.CreatedAt = &d.times[len(d.times)-1]
	}
}

// short renders a value's source text for an error message, bounded so a
// hostile value cannot bloat logs and dead-letter attributes.
func (d *decoder) short(v value) string {
	s := d.body[v.start:v.end]
	if len(s) > 40 {
		return string(s[:40]) + "…"
	}
	return string(s)
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		return strconv.Quote(s) + "…"
	}
	return strconv.Quote(s)
}

func isBlank(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !isWS(c) && c != '\v' && c != '\f' && c != 0x85 {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			return false
		}
		i += n
	}
	return true
}

func isNumberStart(c byte) bool { return c == '-' || (c >= '0' && c <= '9') }

// str returns a string value's content; ok is false when it is not valid
// UTF-8, including an escaped lone surrogate, which encoding/json would
// silently turn into U+FFFD.
func (d *decoder) str(v value) (string, bool) {
	if v.nonASCII && !utf8.Valid(d.body[v.start:v.end]) {
		return "", false
	}
	if !v.escaped {
		return d.sub(v.start, v.end), true
	}
	return d.unescape(v)
}

// unescape decodes a string known to be well-formed JSON. ok is false for a
// lone surrogate.
func (d *decoder) unescape(v value) (string, bool) {
	src := d.body[v.start:v.end]
	out := make([]byte, 0, len(src))
	ok := true
	for i := 0; i < len(src); {
		c := src[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch e := src[i+1]; e {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(src[i+2:])
			i += 6
			if r >= 0xD800 && r < 0xDC00 && i+6 <= len(src) && src[i] == '\\' && src[i+1] == 'u' {
				if r2 := hex4(src[i+2:]); r2 >= 0xDC00 && r2 < 0xE000 {
					out = utf8.AppendRune(out, (r-0xD800)<<10|(r2-0xDC00)+0x10000)
					i += 6
					continue
				}
			}
			if r >= 0xD800 && r < 0xE000 {
				ok = false
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, e)
		}
		i += 2
	}
	return string(out), ok
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// scanValue validates the value at pos, moves past it and returns its span.
func (d *decoder) scanValue() (value, error) {
	if d.pos >= len(d.body) {
		return value{}, d.syntaxErr("want a value: unexpected end of input")
	}
	c := d.body[d.pos]
	if c == '"' {
		return d.scanString()
	}
	start := d.pos
	if err := d.skipValue(); err != nil {
		return value{}, err
	}
	return value{kind: c, start: start, end: d.pos}, nil
}

// scanString validates the string at pos (which is '"') and moves past it.
func (d *decoder) scanString() (value, error) {
	b := d.body
	v := value{kind: '"', start: d.pos + 1}
	i := v.start
	// Skip eight plain bytes at a time: texts are the bulk of a body, and a
	// byte-at-a-time loop made this the decoder's hottest spot.
	var high uint64
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		if hasZero(x^(ones*'"'))|hasZero(x^(ones*'\\'))|hasLess(x, 0x20) != 0 {
			break
		}
		high |= x
		i += 8
	}
	v.nonASCII = high&(ones*0x80) != 0
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			v.end = i
			d.pos = i + 1
			return v, nil
		case c == '\\':
			v.escaped = true
			if i+1 >= len(b) {
				d.pos = i + 1
				return v, d.syntaxErr("unexpected end of input in string escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(b) || !isHex(b[k]) {
						d.pos = k
						return v, d.syntaxErr("invalid \\u escape in string")
					}
				}
				i += 6
			default:
				d.pos = i + 1
				return v, d.syntaxErr("invalid escape in string")
			}
		case c < 0x20:
			d.pos = i
			return v, d.syntaxErr("control character in string")
		default:
			if c >= utf8.RuneSelf {
				v.nonASCII = true
			}
			i++
		}
	}
	d.pos = i
	return v, d.syntaxErr("unexpected end of input in string")
}

const ones = 0x0101010101010101

// hasZero is non-zero when some byte of x is zero.
func hasZero(x uint64) uint64 { return (x - ones) &^ x & (ones * 0x80) }

// hasLess is non-zero when some byte of x is < n (n ≤ 128).
func hasLess(x, n uint64) uint64 { return (x - ones*n) &^ x & (ones * 0x80) }

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// skipValue validates the value at pos and moves past it.
func (d *decoder) skipValue() error {
	b := d.body
	if d.pos >= len(b) {
		return d.syntaxErr("want a value: unexpected end of input")
	}
	switch c := b[d.pos]; {
	case c == '"':
		_, err := d.scanString()
		return err
	case c == '{' || c == '[':
		return d.skipContainer()
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case isNumberStart(c):
		return d.number()
	default:
		return d.syntaxErr("want a value: " + d.found())
	}
}

func (d *decoder) skipContainer() error {
	b := d.body
	obj := b[d.pos] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	d.pos++
	d.depth++
	if d.depth > maxDepth {
		return d.syntaxErr("exceeded max nesting depth")
	}
	d.skipWS()
	if d.pos < len(b) && b[d.pos] == closer {
		d.pos++
		d.depth--
		return nil
	}
	for {
		if obj {
			if d.pos >= len(b) || b[d.pos] != '"' {
				return d.syntaxErr("want an object key: " + d.found())
			}
			if _, err := d.scanString(); err != nil {
				return err
			}
			d.skipWS()
			if d.pos >= len(b) || b[d.pos] != ':' {
				return d.syntaxErr("after object key: " + d.found())
			}
			d.pos++
			d.skipWS()
		}
		if err := d.skipValue(); err != nil {
			return err
		}
		d.skipWS()
		if d.pos >= len(b) {
			return d.syntaxErr("unexpected end of input")
		}
		c := b[d.pos]
		if c == closer {
			d.pos++
			d.depth--
			return nil
		}
		if c != ',' {
			return d.syntaxErr("after value: " + d.found())
		}
		d.pos++
		d.skipWS()
	}
}

func (d *decoder) literal(lit string) error {
	if len(d.body)-d.pos < len(lit) || string(d.body[d.pos:d.pos+len(lit)]) != lit {
		return d.syntaxErr("invalid literal, want " + lit)
	}
	d.pos += len(lit)
	return nil
}

// number validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) number() error {
	b := d.body
	i := d.pos
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		d.pos = i
		return d.syntaxErr("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.pos = i
			return d.syntaxErr("invalid number: want a digit after the decimal point")
		}
		i = digits(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.pos = i
			return d.syntaxErr("invalid number: want a digit in the exponent")
		}
		i = digits(b, i)
	}
	d.pos = i
	return nil
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
