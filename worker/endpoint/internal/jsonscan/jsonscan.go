// Package jsonscan reads JSON that json.Valid has already accepted,
// without reflection and without copying: the adapters decode a response
// per batch at high rates, and encoding/json's reflection was most of
// their CPU. Because the input is known to be valid, the scanner never
// meets a syntax error; it only reports values of an unexpected type.
package jsonscan

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Scanner walks one valid JSON document.
type Scanner struct {
	b []byte
	i int
}

// New returns a scanner over b, or false if b is not valid JSON.
func New(b []byte) (*Scanner, bool) {
	if !json.Valid(b) {
		return nil, false
	}
	return &Scanner{b: b}, true
}

// Valid returns a scanner over b, which must be valid JSON: a document
// New accepted, or a value Raw returned from one.
func Valid(b []byte) Scanner { return Scanner{b: b} }

// Raw passes over the next value and returns its bytes, for reading later
// with Valid (when a member it depends on may come after it).
func (s *Scanner) Raw() []byte {
	s.ws()
	start := s.i
	s.Skip()
	return s.b[start:s.i]
}

func (s *Scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Peek returns the first byte of the next value ('{', '[', '"', 't',
// 'f', 'n', or a number's first byte), or 0 at the end.
func (s *Scanner) Peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// Object enters an object and reports whether the next value is one.
// Read its members with Key until it returns false.
func (s *Scanner) Object() bool {
	if s.Peek() != '{' {
		return false
	}
	s.i++
	return true
}

// Key returns the next member's key and positions the scanner at the
// member's value. The key shares the document's bytes unless it holds
// escapes; compare it with string(key) == "name", which does not
// allocate. It returns false after the object's last member, having
// consumed the '}'.
func (s *Scanner) Key() ([]byte, bool) {
	if s.Peek() == ',' {
		s.i++
		s.ws()
	}
	if s.b[s.i] == '}' {
		s.i++
		return nil, false
	}
	k, escaped, _ := s.RawString()
	if escaped {
		k = []byte(unescape(k))
	}
	s.ws()
	s.i++ // ':'
	return k, true
}

// Array enters an array and reports whether the next value is one. Read
// its elements with More until it returns false.
func (s *Scanner) Array() bool {
	if s.Peek() != '[' {
		return false
	}
	s.i++
	return true
}

// More reports whether the array has another element, and positions the
// scanner at it; it consumes the ']' when it returns false.
func (s *Scanner) More() bool {
	if s.Peek() == ',' {
		s.i++
		s.ws()
	}
	if s.b[s.i] == ']' {
		s.i++
		return false
	}
	return true
}

// String reads a string value. Without escapes it shares the document's
// bytes, so a map lookup with string(b) does not allocate; use RawString
// for that. It reports false, consuming nothing, if the value is not a
// string.
func (s *Scanner) String() (string, bool) {
	raw, escaped, ok := s.RawString()
	if !ok {
		return "", false
	}
	if !escaped {
		return string(raw), true
	}
	return unescape(raw), true
}

// RawString reads a string value and returns its bytes between the
// quotes, and whether they hold escapes or invalid UTF-8 (then use
// Unescape).
func (s *Scanner) RawString() (raw []byte, escaped bool, ok bool) {
	if s.Peek() != '"' {
		return nil, false, false
	}
	start := s.i + 1
	j := start
	high := false
	for s.b[j] != '"' {
		switch {
		case s.b[j] == '\\':
			escaped = true
			j++
		case s.b[j] >= utf8.RuneSelf:
			high = true
		}
		j++
	}
	s.i = j + 1
	raw = s.b[start:j]
	// Invalid UTF-8 takes the slow path too, which replaces it with
	// U+FFFD as encoding/json does.
	if high && !escaped && !utf8.Valid(raw) {
		escaped = true
	}
	return raw, escaped, true
}

// Unescape decodes the body of a string that RawString reported escaped.
func Unescape(raw []byte) string { return unescape(raw) }

func unescape(raw []byte) string {
	q := make([]byte, 0, len(raw)+2)
	q = append(q, '"')
	q = append(q, raw...)
	q = append(q, '"')
	var v string
	_ = json.Unmarshal(q, &v) // Valid JSON: cannot fail.
	return v
}

// Number reads a number value. It reports false, consuming nothing, if
// the value is not a number (a string such as "NaN", null, ...); a number
// too large for float64 comes back as ±Inf with true.
func (s *Scanner) Number() (float64, bool) {
	c := s.Peek()
	if c != '-' && (c < '0' || c > '9') {
		return 0, false
	}
	j := s.i + 1
	for j < len(s.b) {
		c := s.b[j]
		if (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
			j++
			continue
		}
		break
	}
	// A range error still returns ±Inf, which callers reject as they
	// would any out-of-range value.
	v, _ := strconv.ParseFloat(string(s.b[s.i:j]), 64)
	s.i = j
	return v, true
}

// Int reads a number value that is an integer.
func (s *Scanner) Int() (int, bool) {
	v, ok := s.Number()
	if !ok || v != float64(int(v)) {
		return 0, false
	}
	return int(v), true
}

// Skip passes over the next value, whatever it is. Where the value has
// already been read (the scanner is at a ',', '}' or ']'), it does
// nothing, so a member loop can end every member with Skip.
func (s *Scanner) Skip() {
	switch s.Peek() {
	case ',', '}', ']', 0:
		return
	case '{':
		s.i++
		for {
			if _, ok := s.Key(); !ok {
				return
			}
			s.Skip()
		}
	case '[':
		s.i++
		for s.More() {
			s.Skip()
		}
	case '"':
		s.RawString()
	case 't', 'n':
		s.i += 4
	case 'f':
		s.i += 5
	default:
		s.Number()
	}
}

// Snippet returns up to n bytes from the current position, for error
// messages.
func (s *Scanner) Snippet(n int) string {
	s.ws()
	return string(s.b[s.i:min(s.i+n, len(s.b))])
}
