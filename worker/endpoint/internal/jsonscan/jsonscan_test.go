package jsonscan

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// decode rebuilds a value with the scanner, for comparison with
// encoding/json.
func decode(s *Scanner) any {
	switch c := s.Peek(); {
	case c == '{':
		s.Object()
		m := map[string]any{}
		for {
			k, ok := s.Key()
			if !ok {
				return m
			}
			m[string(k)] = decode(s)
		}
	case c == '[':
		s.Array()
		a := []any{}
		for s.More() {
			a = append(a, decode(s))
		}
		return a
	case c == '"':
		v, _ := s.String()
		return v
	case c == 't':
		s.Skip()
		return true
	case c == 'f':
		s.Skip()
		return false
	case c == 'n':
		s.Skip()
		return nil
	default:
		v, _ := s.Number()
		return v
	}
}

var docs = []string{
	`{}`, `[]`, `""`, `0`, `-1.5e-3`, `true`, `false`, `null`,
	` { "a" : [ 1 , 2 ,3 ] , "b":{"c":null,"d":[true,false]} , "e" : "x" } `,
	`{"esc\"aped":"line\nbreak \u00e9 \\ \/ \ud83d\ude00","k\u0065y":1}`,
	`[[["deep"]],[],{},[{}],"]","}",",",":"]`,
	`{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0.1,2E+2,-0,1e-7]}]}`,
	"[1,\t2,\r\n3]",
}

func TestMatchesEncodingJSON(t *testing.T) {
	for _, d := range docs {
		s, ok := New([]byte(d))
		if !ok {
			t.Fatalf("New(%s) rejected valid JSON", d)
		}
		got := decode(s)
		var want any
		if err := json.Unmarshal([]byte(d), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", d, got, want)
		}
		if rest := s.Peek(); rest != 0 {
			t.Errorf("%s: stopped before the end, at %q", d, s.Snippet(10))
		}
	}
}

func TestSkip(t *testing.T) {
	for _, d := range docs {
		s, _ := New([]byte("[" + d + `,"after"]`))
		s.Array()
		s.More()
		s.Skip()
		if !s.More() {
			t.Fatalf("%s: no element after the skipped one", d)
		}
		if v, _ := s.String(); v != "after" {
			t.Errorf("%s: after skipping read %q", d, v)
		}
	}
}

func TestTypes(t *testing.T) {
	s, _ := New([]byte(`["NaN", null, 1e999, 2.5, 3]`))
	s.Array()
	s.More()
	if _, ok := s.Number(); ok {
		t.Error(`Number read "NaN"`)
	}
	s.Skip()
	s.More()
	if _, ok := s.Number(); ok {
		t.Error("Number read null")
	}
	if _, ok := s.String(); ok {
		t.Error("String read null")
	}
	s.Skip()
	s.More()
	if v, ok := s.Number(); !ok || !math.IsInf(v, 1) {
		t.Errorf("Number(1e999) = %v, %v; want +Inf", v, ok)
	}
	s.More()
	if _, ok := s.Int(); ok {
		t.Error("Int read 2.5")
	}
	s.More()
	if v, ok := s.Int(); !ok || v != 3 {
		t.Errorf("Int = %v, %v", v, ok)
	}
	if s.More() {
		t.Error("More after the last element")
	}
}

func TestInvalid(t *testing.T) {
	for _, d := range []string{``, `{`, `[1,]`, `NaN`, `{"a":1}x`, `'a'`} {
		if _, ok := New([]byte(d)); ok {
			t.Errorf("New(%q) accepted invalid JSON", d)
		}
	}
}

func FuzzMatchesEncodingJSON(f *testing.F) {
	for _, d := range docs {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d string) {
		s, ok := New([]byte(d))
		if !ok {
			return
		}
		var want any
		if json.Unmarshal([]byte(d), &want) != nil {
			return // A number out of float64's range: Unmarshal refuses it.
		}
		got := decode(s)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %#v\nwant %#v", d, got, want)
		}
	})
}

func TestRaw(t *testing.T) {
	s, _ := New([]byte(`{"data": [[1, 2], [3]] , "name":"x"}`))
	s.Object()
	s.Key()
	raw := s.Raw()
	if string(raw) != `[[1, 2], [3]]` {
		t.Errorf("Raw = %q", raw)
	}
	if k, _ := s.Key(); string(k) != "name" {
		t.Errorf("key after Raw = %q", k)
	}
	sub := Valid(raw)
	if got := decode(&sub); !reflect.DeepEqual(got, []any{[]any{1.0, 2.0}, []any{3.0}}) {
		t.Errorf("Valid(raw) read %v", got)
	}
}

func TestSkipAfterRead(t *testing.T) {
	s, _ := New([]byte(`{"a":"x","b":[1],"c":2}`))
	s.Object()
	var keys []string
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		keys = append(keys, string(k))
		if string(k) == "a" {
			s.String()
		}
		s.Skip()
	}
	if !reflect.DeepEqual(keys, []string{"a", "b", "c"}) {
		t.Errorf("keys %v", keys)
	}
}
