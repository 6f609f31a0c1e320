package httpx

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chorusml/chorus/worker/endpoint"
)

// errorMessage pulls the message out of the error bodies the protocols
// document ({"error": "..."} for open-inference, TF Serving and TEI;
// {"error": {"message": "..."}} for Google APIs; {"detail": ...} for
// FastAPI servers such as KServe's Python runtimes), else the raw text. It
// is truncated and its control characters escaped: the text goes into
// logs and dead letters, and a server is not trusted to keep it short.
func errorMessage(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	var v struct {
		Error  any `json:"error"`
		Detail any `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil {
		switch e := v.Error.(type) {
		case string:
			return ": " + truncate(e)
		case map[string]any:
			if m, ok := e["message"].(string); ok {
				return ": " + truncate(m)
			}
		}
		if d, ok := v.Detail.(string); ok {
			return ": " + truncate(d)
		}
	}
	return ": " + truncate(string(body))
}

// truncate bounds s to errorText bytes of valid UTF-8 and escapes control
// characters, so that echoed server text can neither flood a log line nor
// forge one.
func truncate(s string) string {
	cut := false
	if len(s) > errorText {
		s, cut = s[:errorText], true
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	s = strings.ToValidUTF8(s, "?")
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		var b strings.Builder
		for _, r := range s {
			if unicode.IsControl(r) {
				q := strconv.QuoteRune(r)
				b.WriteString(q[1 : len(q)-1])
				continue
			}
			b.WriteRune(r)
		}
		s = b.String()
	}
	if cut {
		s += "…"
	}
	return s
}

// Truncate is truncate for the adapters' own messages.
func Truncate(s string) string { return truncate(s) }

// batchSizeMessages are the servers' own words for "this batch is larger
// than I take", each with the limit as its first group:
//   - TEI: "batch size 64 > maximum allowed batch size 32"
//   - Triton: "inference request batch-size must be <= 8 for 'model'"
//   - KServe/others: "batch size 64 exceeds max_batch_size 32"
//   - TF Serving's batcher: "Task size 65 is larger than maximum input
//     batch size 64"
var batchSizeMessages = []*regexp.Regexp{
	regexp.MustCompile(`maximum allowed batch size (\d+)`),
	regexp.MustCompile(`larger than maximum input batch size (\d+)`),
	regexp.MustCompile(`batch[-_ ]size must be <= ?(\d+)`),
	regexp.MustCompile(`(?i)exceeds (?:the )?max(?:imum)?[-_ ]batch[-_ ]size(?: of)? (\d+)`),
}

// BatchSizeLimit finds a batch-size limit in a server's error message.
func BatchSizeLimit(msg string) (int, bool) {
	for _, re := range batchSizeMessages {
		if m := re.FindStringSubmatch(msg); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
				return n, true
			}
		}
	}
	return 0, false
}

// retryInfoDelay reads google.rpc.RetryInfo.retryDelay from a Google API
// error body ({"error": {"details": [{"@type": ".../google.rpc.RetryInfo",
// "retryDelay": "30s"}]}}); 0 when there is none.
func retryInfoDelay(body []byte) time.Duration {
	if !bytes.Contains(body, []byte("RetryInfo")) {
		return 0
	}
	var v struct {
		Error struct {
			Details []struct {
				Type       string `json:"@type"`
				RetryDelay string `json:"retryDelay"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil {
		return 0
	}
	for _, d := range v.Error.Details {
		if !strings.HasSuffix(d.Type, "google.rpc.RetryInfo") {
			continue
		}
		// A protobuf Duration in JSON is decimal seconds with an "s".
		if s, ok := strings.CutSuffix(d.RetryDelay, "s"); ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && f < 1<<31 {
				return time.Duration(f * float64(time.Second))
			}
		}
	}
	return 0
}

// CheckVersion refuses a model version that is too long or holds control
// characters or invalid UTF-8: it is written into every row, and a sink
// key or column would refuse it, or a log would carry it.
func CheckVersion(v string) error {
	if len(v) > endpoint.MaxVersionBytes {
		return BadResponse("model version of %d bytes, over %d", len(v), endpoint.MaxVersionBytes)
	}
	if !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return BadResponse("model version %q holds control characters or invalid UTF-8", truncate(v))
	}
	return nil
}
