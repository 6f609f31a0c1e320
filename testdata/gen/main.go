// Command gen writes the synthetic demo input of `chorus demo`:
// testdata/demo/feedback.jsonl (one queue message body per line) and
// testdata/demo/EXPECTED.md (line counts and where the deliberately bad
// inputs are, to check the demo's dead-letter summary against).
//
// Comments are combined from the hand-written sentence fragments in
// fragments.go with a fixed seed, so the output is reproducible. Regenerate
// from the repository root with:
//
//	go run ./testdata/gen
//
// Go ignores testdata directories for ./..., so this program is not part of
// the build or the tests.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	totalLines    = 2240 // lines in feedback.jsonl
	arrayLines    = 112  // well-formed backfill lines packing 2–5 jobs (5%)
	umbrellaLines = 10   // jobs for a tenant the demo config does not know
	maxTextBytes  = 10000
	seed          = 20260101
)

type topic struct {
	name     string
	weight   int
	pos, neg []string
}

type tenantSpec struct {
	name   string
	weight int
	// moods weights promoter, passive and detractor comments.
	moods                        [3]int
	topics                       []topic
	shortPos, shortNeg, shortMid []string
	closePos, closeNeg, closeMid []string
	surveys                      []string
	meta                         func(g *gen, topics []string) map[string]any
}

type mood int

const (
	promoter mood = iota
	passive
	detractor
)

// job is one message body object. Text is a pointer so that an empty text
// can be written while a missing one is omitted.
type job struct {
	ResponseID string         `json:"response_id,omitempty"`
	Tenant     string         `json:"tenant,omitempty"`
	Text       *string        `json:"text,omitempty"`
	Score      *int           `json:"score,omitempty"`
	SurveyID   string         `json:"survey_id,omitempty"`
	CreatedAt  string         `json:"created_at,omitempty"`
	Lang       string         `json:"lang,omitempty"`
	Metadata   map[string]any `json:"metadata,omitempty"`
}

// Bad-input kinds, in the order they are listed in EXPECTED.md.
// reason is what worker/job.Decode reported for the kind when this was
// written ("message:" the whole message, "job:" that one job).
var badKinds = []struct {
	kind, desc, reason string
	n                  int
}{
	{"truncated_json", "malformed JSON: object cut off mid-line", "message: malformed_json", 3},
	{"bare_word", "malformed JSON: a bare word", "message: malformed_json", 2},
	{"json_number", "valid JSON, but a number instead of an object or array", "message: malformed_json", 2},
	{"json_string", "valid JSON, but a string instead of an object or array", "message: malformed_json", 2},
	{"empty_array", "an empty array `[]` (no jobs)", "message: empty_message", 2},
	{"missing_response_id", "one job without `response_id`", "job: missing_field", 3},
	{"missing_tenant", "one job without `tenant` (the file source has no attributes to supply it)", "job: missing_field", 2},
	{"missing_text", "one job without `text`", "job: missing_field", 3},
	{"empty_text", "one job with `\"text\":\"\"`", "job: empty_text", 3},
	{"text_too_long", "one job whose text is over 10,000 bytes (about 12 KB)", "job: text_too_long", 2},
	{"array_one_bad", "an array of good jobs with one bad job (missing or empty text) among them", "job: missing_field (first), empty_text (second)", 2},
}

type gen struct {
	r     *rand.Rand
	ids   map[string]int
	seen  map[string]map[string]bool
	clock time.Time
	start time.Time
}

func main() {
	out := flag.String("out", "testdata/demo", "output directory")
	flag.Parse()
	g := &gen{
		r:     rand.New(rand.NewPCG(seed, seed>>1)),
		ids:   map[string]int{},
		seen:  map[string]map[string]bool{},
		start: time.Date(2026, 1, 5, 7, 0, 0, 0, time.UTC),
	}
	g.clock = g.start
	lines, exp := g.build()
	var buf bytes.Buffer
	for _, l := range lines {
		buf.WriteString(l)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(*out, "feedback.jsonl"), buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "EXPECTED.md"), []byte(exp), 0o644); err != nil {
		log.Fatal(err)
	}
}

var tenants = []*tenantSpec{&acme, &globex, &initech}

// stats collects what EXPECTED.md reports.
type stats struct {
	singleLines, arrayLines int
	validJobs               map[string]int // by tenant, including umbrella
	bad                     map[string][]string
	umbrella                []int
}

func (g *gen) build() ([]string, string) {
	st := stats{validJobs: map[string]int{}, bad: map[string][]string{}}

	// Pick which lines are special; the first few lines stay ordinary.
	perm := g.r.Perm(totalLines - 5)
	nBad := 0
	for _, b := range badKinds {
		nBad += b.n
	}
	special := map[int]string{} // 1-based line → kind
	i := 0
	for _, b := range badKinds {
		for k := 0; k < b.n; k++ {
			special[perm[i]+6] = b.kind
			i++
		}
	}
	for k := 0; k < umbrellaLines; k++ {
		special[perm[i]+6] = "umbrella"
		i++
	}
	for k := 0; k < arrayLines; k++ {
		special[perm[i]+6] = "array"
		i++
	}

	lines := make([]string, 0, totalLines)
	for ln := 1; ln <= totalLines; ln++ {
		g.clock = g.clock.Add(time.Duration(90+g.r.IntN(240)) * time.Minute)
		kind := special[ln]
		var line string
		switch kind {
		case "":
			t := g.pickTenant()
			line = g.marshal(g.job(t, g.clock))
			st.singleLines++
			st.validJobs[t.name]++
		case "array":
			t := g.pickTenant()
			n := 2 + g.r.IntN(4)
			js := make([]job, n)
			for k := range js {
				js[k] = g.job(t, g.backfillTime())
			}
			line = g.marshal(js)
			st.arrayLines++
			st.validJobs[t.name] += n
		case "umbrella":
			line = g.marshal(g.umbrellaJob())
			st.umbrella = append(st.umbrella, ln)
			st.validJobs["umbrella"]++
		default:
			var note string
			line, note = g.bad(kind, &st)
			loc := fmt.Sprint(ln)
			if note != "" {
				loc += " (" + note + ")"
			}
			st.bad[kind] = append(st.bad[kind], loc)
		}
		if strings.ContainsAny(line, "\n\r") {
			log.Fatalf("line %d spans lines", ln)
		}
		lines = append(lines, line)
	}
	if g.clock.Year() != 2026 {
		log.Fatalf("clock ran past 2026: %v", g.clock)
	}
	return lines, expected(st, nBad)
}

func (g *gen) pickTenant() *tenantSpec {
	total := 0
	for _, t := range tenants {
		total += t.weight
	}
	n := g.r.IntN(total)
	for _, t := range tenants {
		if n < t.weight {
			return t
		}
		n -= t.weight
	}
	panic("unreachable")
}

func (g *gen) nextID(tenant string) string {
	g.ids[tenant]++
	return fmt.Sprintf("%s-%06d", tenant, g.ids[tenant])
}

// backfillTime is a time between the start of the file and now: backfills
// replay older responses.
func (g *gen) backfillTime() time.Time {
	span := g.clock.Sub(g.start)
	return g.start.Add(-72*time.Hour + time.Duration(g.r.Int64N(int64(span+72*time.Hour))))
}

// job returns a well-formed job for t created at ts.
func (g *gen) job(t *tenantSpec, ts time.Time) job {
	m := mood(weighted(g.r, t.moods[:]))
	text, topics, pols := g.text(t, m)
	j := job{
		ResponseID: g.nextID(t.name),
		Tenant:     t.name,
		Text:       &text,
		CreatedAt:  ts.Add(time.Duration(g.r.IntN(3600)) * time.Second).Format(time.RFC3339),
	}
	if g.r.Float64() >= 0.03 {
		s := g.score(m, pols)
		j.Score = &s
	}
	if g.r.Float64() >= 0.04 {
		j.SurveyID = g.survey(t, ts)
	}
	if g.r.Float64() >= 0.05 {
		j.Lang = "en"
	}
	if g.r.Float64() >= 0.08 {
		j.Metadata = t.meta(g, topics)
	}
	return j
}

func (g *gen) survey(t *tenantSpec, ts time.Time) string {
	switch t.name {
	case "acme":
		return t.surveys[(int(ts.Month())-1)/3]
	case "globex":
		if g.r.IntN(3) > 0 {
			return t.surveys[0]
		}
		return t.surveys[2+(int(ts.Month())-1)/6]
	default:
		return t.surveys[g.r.IntN(len(t.surveys))]
	}
}

func (g *gen) umbrellaJob() job {
	text := umbrellaTexts[g.ids["umbrella"]%len(umbrellaTexts)]
	s := 3 + g.r.IntN(8)
	return job{
		ResponseID: g.nextID("umbrella"),
		Tenant:     "umbrella",
		Text:       &text,
		Score:      &s,
		SurveyID:   "umbrella-nps-2026",
		CreatedAt:  g.clock.Format(time.RFC3339),
		Lang:       "en",
		Metadata:   map[string]any{"plan": "trial"},
	}
}

// bad returns one deliberately bad line of the given kind, and a note for
// EXPECTED.md.
func (g *gen) bad(kind string, st *stats) (string, string) {
	t := g.pickTenant()
	switch kind {
	case "truncated_json":
		s := g.marshal(g.job(t, g.clock))
		cut := len(s) * 2 / 3
		for !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut], ""
	case "bare_word":
		w := []string{"undefined", "hello"}[len(st.bad[kind])%2]
		return w, ""
	case "json_number":
		return []string{"42", "-7.5"}[len(st.bad[kind])%2], ""
	case "json_string":
		return g.marshal([]string{"The app is great but support is slow", "acme-000777"}[len(st.bad[kind])%2]), ""
	case "empty_array":
		return "[]", ""
	case "missing_response_id":
		j := g.job(t, g.clock)
		j.ResponseID = ""
		return g.marshal(j), "tenant " + t.name
	case "missing_tenant":
		j := g.job(t, g.clock)
		j.Tenant = ""
		return g.marshal(j), j.ResponseID
	case "missing_text":
		j := g.job(t, g.clock)
		j.Text = nil
		return g.marshal(j), j.ResponseID
	case "empty_text":
		j := g.job(t, g.clock)
		empty := ""
		j.Text = &empty
		return g.marshal(j), j.ResponseID
	case "text_too_long":
		t = [...]*tenantSpec{&acme, &initech}[len(st.bad[kind])%2]
		j := g.job(t, g.clock)
		var b strings.Builder
		for b.Len() <= maxTextBytes+1500 {
			b.WriteString(rambles[t.name])
		}
		text := strings.TrimSpace(b.String())
		j.Text = &text
		return g.marshal(j), fmt.Sprintf("%s, %d bytes", j.ResponseID, len(text))
	case "array_one_bad":
		n := 3 + len(st.bad[kind])
		badAt := 1 + len(st.bad[kind])
		js := make([]job, n)
		for k := range js {
			js[k] = g.job(t, g.backfillTime())
		}
		what := "no text"
		if len(st.bad[kind]) == 0 {
			js[badAt].Text = nil
		} else {
			empty := ""
			js[badAt].Text = &empty
			what = "empty text"
		}
		st.validJobs[t.name] += n - 1
		return g.marshal(js), fmt.Sprintf("%d jobs; job %d, %s, has %s", n, badAt+1, js[badAt].ResponseID, what)
	}
	log.Fatalf("unknown bad kind %q", kind)
	return "", ""
}

func (g *gen) marshal(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		log.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// sentence is one piece of a comment with its polarity (+1, -1, 0).
type sentence struct {
	text string
	pol  int
}

// text composes a unique comment for t in mood m. It returns the text, the
// topics it mentions and the polarities of its sentences.
func (g *gen) text(t *tenantSpec, m mood) (string, []string, []int) {
	if g.seen[t.name] == nil {
		g.seen[t.name] = map[string]bool{}
	}
	for attempt := 0; ; attempt++ {
		parts, topics := g.compose(t, m)
		s := g.roughen(join(g, parts))
		n := len(strings.Fields(s))
		if n < 3 || n > 40 {
			continue
		}
		if g.seen[t.name][s] && attempt < 200 {
			continue
		}
		g.seen[t.name][s] = true
		pols := make([]int, len(parts))
		for i, p := range parts {
			pols[i] = p.pol
		}
		return s, topics, pols
	}
}

func (g *gen) compose(t *tenantSpec, m mood) ([]sentence, []string) {
	if g.r.Float64() < 0.06 {
		switch m {
		case promoter:
			return []sentence{{pick(g.r, t.shortPos), 1}}, nil
		case detractor:
			return []sentence{{pick(g.r, t.shortNeg), -1}}, nil
		default:
			return []sentence{{pick(g.r, t.shortMid), 0}}, nil
		}
	}
	n := 1 + weighted(g.r, []int{22, 50, 28})
	var parts []sentence
	var topics []string
	used := map[int]bool{}
	addTopic := func(pol int) {
		k := g.pickTopic(t, used)
		used[k] = true
		tp := t.topics[k]
		src := tp.pos
		if pol < 0 {
			src = tp.neg
		}
		parts = append(parts, sentence{pick(g.r, src), pol})
		topics = append(topics, tp.name)
	}
	first := map[mood]int{promoter: 1, detractor: -1, passive: []int{1, -1}[g.r.IntN(2)]}[m]
	addTopic(first)
	if n >= 2 {
		pol := first
		switch m {
		case promoter, detractor:
			if g.r.Float64() < 0.15 {
				pol = -first
			}
		case passive:
			pol = -first
		}
		addTopic(pol)
	}
	if n == 3 {
		if g.r.Float64() < 0.5 {
			switch m {
			case promoter:
				parts = append(parts, sentence{pick(g.r, t.closePos), 1})
			case detractor:
				parts = append(parts, sentence{pick(g.r, t.closeNeg), -1})
			default:
				parts = append(parts, sentence{pick(g.r, t.closeMid), 0})
			}
		} else {
			pol := map[mood]int{promoter: 1, detractor: -1, passive: []int{1, -1}[g.r.IntN(2)]}[m]
			addTopic(pol)
		}
	}
	if g.r.Float64() < 0.08 {
		o := pick(g.r, openers)
		parts[0].text = o + maybeLower(parts[0].text, o)
	}
	return parts, topics
}

func (g *gen) pickTopic(t *tenantSpec, used map[int]bool) int {
	for {
		total := 0
		for _, tp := range t.topics {
			total += tp.weight
		}
		n := g.r.IntN(total)
		for k, tp := range t.topics {
			if n < tp.weight {
				if !used[k] {
					return k
				}
				break
			}
			n -= tp.weight
		}
	}
}

// join strings sentences together, sometimes contrasting opposite ones in one
// sentence ("X, but y").
func join(g *gen, parts []sentence) string {
	out := parts[0].text
	for i := 1; i < len(parts); i++ {
		prev, cur := parts[i-1], parts[i]
		if prev.pol*cur.pol < 0 && g.r.Float64() < 0.55 {
			conj := pick(g.r, []string{", but ", ", but ", " but ", "; ", ". That said, ", ". However, "})
			out = strings.TrimRight(out, ".!? ") + conj + maybeLower(cur.text, conj)
			continue
		}
		if prev.pol == cur.pol && cur.pol != 0 && g.r.Float64() < 0.15 {
			conj := pick(g.r, []string{" and ", ", and ", ". Also, ", ". Plus, "})
			out = strings.TrimRight(out, ".!? ") + conj + maybeLower(cur.text, conj)
			continue
		}
		if !strings.ContainsAny(out[len(out)-1:], ".!?") {
			out += "."
		}
		out += " " + cur.text
	}
	return out
}

// properWords keep their capital when a sentence continues another.
var properWords = map[string]bool{
	"I": true, "I'm": true, "I've": true, "I'd": true, "I'll": true, "Acme": true, "Acme's": true,
	"Slack": true, "Salesforce": true, "Zapier": true, "Google": true, "Okta": true, "Jira": true,
	"Initech": true, "Globex": true, "Face": true, "Apple": true, "Android": true, "Priya": true,
}

// maybeLower lowercases the first letter of s when it continues a sentence
// (after the joint j) and the first word is not a name or acronym.
func maybeLower(s, j string) string {
	if strings.HasSuffix(strings.TrimSpace(j), ".") {
		return s
	}
	w, _, _ := strings.Cut(s, " ")
	w = strings.TrimRight(w, ",.!?")
	if properWords[w] || len(w) > 1 && unicode.IsUpper(rune(w[1])) {
		return s
	}
	r, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[size:]
}

// roughen adds the small imperfections of real survey answers: a missing
// final full stop, all lower case, the odd typo.
func (g *gen) roughen(s string) string {
	if g.r.Float64() < 0.15 && strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "..") {
		s = strings.TrimSuffix(s, ".")
	}
	if g.r.Float64() < 0.05 {
		s = strings.ToLower(s)
	}
	if g.r.Float64() < 0.07 {
		words := strings.Split(s, " ")
		var cand []int
		for i, w := range words {
			if len(w) >= 5 && isLetters(w) {
				cand = append(cand, i)
			}
		}
		if len(cand) > 0 {
			i := cand[g.r.IntN(len(cand))]
			w := []byte(words[i])
			k := 1 + g.r.IntN(len(w)-2)
			switch g.r.IntN(3) {
			case 0: // swapped letters
				w[k], w[k+1] = w[k+1], w[k]
			case 1: // dropped letter
				w = append(w[:k], w[k+1:]...)
			default: // doubled letter
				w = append(w[:k+1], w[k:]...)
			}
			words[i] = string(w)
			s = strings.Join(words, " ")
		}
	}
	return s
}

func isLetters(w string) bool {
	for _, r := range w {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// score draws an NPS score (0–10) that fits the mood and the sentences.
func (g *gen) score(m mood, pols []int) int {
	if g.r.Float64() < 0.02 {
		return g.r.IntN(11) // people do not always score what they write
	}
	mixed := false
	for _, p := range pols {
		if (m == promoter && p < 0) || (m == detractor && p > 0) {
			mixed = true
		}
	}
	switch {
	case m == promoter && mixed:
		return 8 + weighted(g.r, []int{5, 4, 1})
	case m == promoter:
		return 8 + weighted(g.r, []int{1, 4, 5})
	case m == passive:
		return 5 + weighted(g.r, []int{1, 2, 4, 3})
	case mixed:
		return 3 + weighted(g.r, []int{2, 3, 3, 2})
	default:
		return weighted(g.r, []int{3, 2, 3, 3, 3, 2, 1})
	}
}

func acmeMeta(g *gen, topics []string) map[string]any {
	m := map[string]any{
		"plan":  pick(g.r, []string{"starter", "pro", "pro", "business", "business", "enterprise"}),
		"seats": []int{3, 5, 8, 12, 20, 35, 60, 120, 400}[g.r.IntN(9)],
	}
	platform := pick(g.r, []string{"web", "web", "web", "web", "web", "web", "web", "ios", "android"})
	for _, t := range topics {
		if t == "mobile-app" {
			platform = pick(g.r, []string{"ios", "android"})
		}
	}
	m["platform"] = platform
	if g.r.IntN(4) == 0 {
		m["region"] = pick(g.r, []string{"na", "emea", "apac"})
	}
	return m
}

func globexMeta(g *gen, _ []string) map[string]any {
	return map[string]any{
		"channel": pick(g.r, []string{"web", "web", "ios", "android"}),
		"country": pick(g.r, []string{"US", "US", "US", "CA", "GB", "AU"}),
		"basket":  pick(g.r, []string{"under-50", "50-150", "50-150", "over-150"}),
	}
}

func initechMeta(g *gen, _ []string) map[string]any {
	m := map[string]any{
		"segment":  pick(g.r, []string{"personal", "personal", "personal", "premier", "small-business"}),
		"platform": pick(g.r, []string{"ios", "android", "android", "web"}),
	}
	if g.r.IntN(2) == 0 {
		m["tenure_years"] = 1 + g.r.IntN(25)
	}
	return m
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// weighted returns an index drawn with the given weights.
func weighted(r *rand.Rand, w []int) int {
	total := 0
	for _, x := range w {
		total += x
	}
	n := r.IntN(total)
	for i, x := range w {
		if n < x {
			return i
		}
		n -= x
	}
	panic("unreachable")
}

func expected(st stats, nBad int) string {
	var b strings.Builder
	valid := 0
	var names []string
	for name, n := range st.validJobs {
		valid += n
		names = append(names, name)
	}
	sort.Strings(names)
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# feedback.jsonl: what the demo should see\n\n")
	p("Generated together with `feedback.jsonl` by `go run ./testdata/gen`; do not edit by hand.\n")
	p("Line numbers are 1-based.\n\n")
	p("| | count |\n|---|---:|\n")
	p("| lines | %d |\n", totalLines)
	p("| lines with one well-formed job (known tenant) | %d |\n", st.singleLines)
	p("| lines with a well-formed array of 2–5 jobs (backfill) | %d |\n", st.arrayLines)
	p("| lines with one well-formed job for unknown tenant `umbrella` | %d |\n", len(st.umbrella))
	p("| deliberately bad lines (table below) | %d |\n", nBad)
	p("| **valid jobs** (well-formed, required fields, within limits; includes `umbrella` and the good jobs of the `array_one_bad` lines) | **%d** |\n", valid)
	for _, name := range names {
		p("| valid jobs, tenant `%s` | %d |\n", name, st.validJobs[name])
	}
	p("| jobs that should be scored and reach the sink (valid minus `umbrella`) | %d |\n\n", valid-st.validJobs["umbrella"])
	p("## Dead letters\n\n")
	p("Unknown tenant (`umbrella`, expected reason `unknown_tenant`): %d jobs, lines %s.\n\n",
		len(st.umbrella), joinInts(st.umbrella))
	p("Deliberately bad inputs, %d lines. The reason column is what `worker/job.Decode`\n", nBad)
	p("reported when this file was generated (limits: 10,000 text bytes); the kind names\n")
	p("are only descriptive.\n\n")
	p("| kind | what | count | reason | lines |\n|---|---|---:|---|---|\n")
	for _, k := range badKinds {
		p("| `%s` | %s | %d | %s | %s |\n", k.kind, k.desc, k.n, k.reason, strings.Join(st.bad[k.kind], ", "))
	}
	p("\nWhole-message dead letters (the line cannot be decoded into jobs): `truncated_json`,\n")
	p("`bare_word`, `json_number`, `json_string`, and `empty_array` (a message with no jobs).\n")
	p("Per-job dead letters: `missing_response_id`, `missing_tenant`, `missing_text`,\n")
	p("`empty_text`, `text_too_long`, the bad job inside each `array_one_bad` line (its\n")
	p("other jobs are valid and counted above), and the `umbrella` jobs.\n\n")
	p("Expected dead letters in all: %d (one per bad line, which for an `array_one_bad`\n", nBad+len(st.umbrella))
	p("line is its one bad job, plus the %d `umbrella` jobs). No other line or job should be\n", len(st.umbrella))
	p("dead-lettered.\n")
	return b.String()
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
