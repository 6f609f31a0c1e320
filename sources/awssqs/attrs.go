package awssqs

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/chorusml/chorus/sources"
)

// SQS limits this driver works within.
const (
	// MaxAttributes is how many message attributes SQS allows a message.
	MaxAttributes = 10
	// MaxBatch is the most entries in one batch call, and the most
	// messages one receive returns.
	MaxBatch = 10
	// MaxWaitTime is SQS's long-poll limit.
	MaxWaitTime = 20 * time.Second
	// MaxVisibility is the longest visibility timeout SQS allows.
	MaxVisibility = 12 * time.Hour
	// maxErrorDetail bounds the AttrError attribute of a dead letter.
	maxErrorDetail = 1024
	// AttrOriginalAttributes holds, as a JSON object, the original
	// attributes of a dead letter that did not fit in SQS's ten.
	AttrOriginalAttributes = "chorus_original_attributes"
)

// reasonAttrs are the dead-letter attributes, kept first in this order.
var reasonAttrs = []string{
	sources.AttrErrorClass,
	sources.AttrError,
	sources.AttrFailedAt,
	sources.AttrSourceMessageID,
	sources.AttrDeliveryAttempt,
}

// preferredAttrs are the job attributes kept as attributes before others
// when a dead letter has more than fit.
var preferredAttrs = []string{"tenant", "run_id", "pipeline"}

// fromSQSAttributes converts message attributes to strings: String and
// Number values as they are, Binary values base64-encoded.
func fromSQSAttributes(in map[string]types.MessageAttributeValue) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		switch {
		case v.StringValue != nil:
			out[k] = *v.StringValue
		case v.BinaryValue != nil:
			out[k] = base64.StdEncoding.EncodeToString(v.BinaryValue)
		}
	}
	return out
}

// toSQSAttributes converts attributes to String message attributes. SQS
// rejects empty values, so those are left out: absent and empty read the
// same through sources.Message.Attributes.
func toSQSAttributes(in map[string]string) map[string]types.MessageAttributeValue {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]types.MessageAttributeValue, len(in))
	for k, v := range in {
		if v == "" {
			continue
		}
		out[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(sqsText(v))}
	}
	return out
}

// attributesSize is what attributes count towards SQS's message size:
// name, type and value of each.
func attributesSize(attrs map[string]string) int {
	n := 0
	for k, v := range attrs {
		if v != "" {
			n += len(k) + len("String") + len(v)
		}
	}
	return n
}

// deadLetterAttributes fits a dead letter's attributes into SQS's ten: the
// reason attributes first, then the original ones (tenant, run_id and
// pipeline before the rest, the rest by name) while they fit, and the
// remainder as one JSON attribute, AttrOriginalAttributes. The error
// detail is cut to 1 KiB.
func deadLetterAttributes(attrs map[string]string) map[string]string {
	out := make(map[string]string, MaxAttributes)
	for _, k := range reasonAttrs {
		v := attrs[k]
		if k == sources.AttrError {
			v = truncate(v, maxErrorDetail)
		}
		if v != "" {
			out[k] = v
		}
	}
	var orig []string
	for _, k := range preferredAttrs {
		if attrs[k] != "" && !slices.Contains(reasonAttrs, k) {
			orig = append(orig, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if attrs[k] != "" && !slices.Contains(reasonAttrs, k) && !slices.Contains(preferredAttrs, k) {
			orig = append(orig, k)
		}
	}
	room := MaxAttributes - len(out)
	if len(orig) > room {
		room-- // one slot for the JSON of the rest
		rest := make(map[string]string, len(orig)-room)
		for _, k := range orig[room:] {
			rest[k] = attrs[k]
		}
		b, _ := json.Marshal(rest) // a map of strings always marshals
		out[AttrOriginalAttributes] = string(b)
		orig = orig[:room]
	}
	for _, k := range orig {
		out[k] = attrs[k]
	}
	return out
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// sqsText replaces what SQS does not accept in a string (invalid UTF-8 and
// control characters other than tab, newline and carriage return; see the
// SendMessage API reference) with U+FFFD.
func sqsText(s string) string {
	ok := true
	for _, r := range s {
		if !sqsRune(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if sqsRune(r) {
			return r
		}
		return utf8.RuneError
	}, s)
}

func sqsRune(r rune) bool {
	switch {
	case r == utf8.RuneError:
		return false // invalid UTF-8 decodes to it; a literal U+FFFD is replaced by itself
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}
