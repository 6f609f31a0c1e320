package backfill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/job"
)

func ts(s string) *time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return &t
}

func TestFilter(t *testing.T) {
	since, until, err := ParseRange("2026-11-01", "2026-11-30")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    Filter
		j    job.Job
		want bool
	}{
		{"zero passes all", Filter{}, job.Job{Tenant: "a"}, true},
		{"tenant in", Filter{Tenants: []string{"a", "b"}}, job.Job{Tenant: "b"}, true},
		{"tenant out", Filter{Tenants: []string{"a"}}, job.Job{Tenant: "c"}, false},
		{"no created_at with a range", Filter{Since: since}, job.Job{Tenant: "a"}, false},
		{"since inclusive", Filter{Since: since}, job.Job{CreatedAt: ts("2026-11-01T00:00:00Z")}, true},
		{"before since", Filter{Since: since}, job.Job{CreatedAt: ts("2026-10-31T23:59:59Z")}, false},
		{"date until includes the day", Filter{Until: until}, job.Job{CreatedAt: ts("2026-11-30T23:59:59Z")}, true},
		{"after until", Filter{Until: until}, job.Job{CreatedAt: ts("2026-12-01T00:00:00Z")}, false},
		{"tenant and range", Filter{Tenants: []string{"a"}, Since: since, Until: until}, job.Job{Tenant: "a", CreatedAt: ts("2026-11-15T10:00:00Z")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(&tt.j); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		since, until string
		wantErr      string
		wantUntil    string
	}{
		{"2026-11-01", "2026-11-02", "", "2026-11-03T00:00:00Z"},
		{"2026-11-01T10:00:00Z", "2026-11-01T11:00:00+01:00", "not before", ""},
		{"", "2026-11-01T11:00:00Z", "", "2026-11-01T11:00:00Z"},
		{"yesterday", "", "neither RFC 3339", ""},
	}
	for _, tt := range tests {
		t.Run(tt.since+"_"+tt.until, func(t *testing.T) {
			_, u, err := ParseRange(tt.since, tt.until)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Format(time.RFC3339); got != tt.wantUntil {
				t.Fatalf("until %s, want %s", got, tt.wantUntil)
			}
		})
	}
	if got := ParseTenants([]string{"a,b", " c ", "a"}); strings.Join(got, "|") != "a|b|c" {
		t.Fatalf("ParseTenants = %v", got)
	}
}

func TestPacker(t *testing.T) {
	enc := func(i, pad int) []byte {
		b, _ := json.Marshal(job.Job{ResponseID: fmt.Sprint("r-", i), Tenant: "t", Text: strings.Repeat("x", pad)})
		return b
	}
	tests := []struct {
		name             string
		maxJobs, maxSize int
		n, pad           int
		wantMsgs         int
	}{
		{"by count", 10, 1 << 20, 95, 10, 10},
		{"by bytes", 1000, 1000, 100, 100, 17},
		{"one per message", 1, 1 << 20, 5, 1, 5},
		{"exactly the worker limit", 1000, 10 << 20, 2500, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPacker(tt.maxJobs, tt.maxSize)
			if err != nil {
				t.Fatal(err)
			}
			var bodies [][]byte
			total := 0
			collect := func(b []byte, n int) {
				if b == nil {
					return
				}
				if len(b) > tt.maxSize {
					t.Fatalf("message of %d bytes over the limit %d", len(b), tt.maxSize)
				}
				var jobs []job.Job
				if err := json.Unmarshal(b, &jobs); err != nil {
					t.Fatalf("not a JSON array: %v", err)
				}
				if len(jobs) != n || n > tt.maxJobs {
					t.Fatalf("%d jobs decoded, packer says %d, max %d", len(jobs), n, tt.maxJobs)
				}
				total += n
				bodies = append(bodies, b)
			}
			for i := range tt.n {
				b, n, err := p.Add(enc(i, tt.pad))
				if err != nil {
					t.Fatal(err)
				}
				collect(b, n)
			}
			collect(p.Flush())
			if total != tt.n || len(bodies) != tt.wantMsgs {
				t.Fatalf("%d jobs in %d messages, want %d in %d", total, len(bodies), tt.n, tt.wantMsgs)
			}
		})
	}
	p, _ := NewPacker(10, 100)
	if _, _, err := p.Add(enc(1, 200)); !errors.Is(err, ErrTooLarge) || errkind.KindOf(err) != errkind.InvalidInput {
		t.Fatalf("oversized job: %v", err)
	}
	if _, err := NewPacker(1001, 1<<20); err == nil {
		t.Fatal("1001 jobs per message accepted, over the worker's limit")
	}
}

func TestWatermarkOutOfOrder(t *testing.T) {
	type conf struct{ seq, hi int64 }
	tests := []struct {
		name  string
		order []conf
		want  []int64 // watermark after each confirmation
	}{
		{"in order", []conf{{0, 10}, {1, 20}, {2, 30}}, []int64{10, 20, 30}},
		{"reversed", []conf{{2, 30}, {1, 20}, {0, 10}}, []int64{0, 0, 30}},
		{"gap then fill", []conf{{0, 10}, {2, 30}, {3, 35}, {1, 20}}, []int64{10, 10, 10, 35}},
		{"duplicate ignored", []conf{{0, 10}, {0, 10}, {1, 20}}, []int64{10, 10, 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWatermark(0, Counts{})
			for i, c := range tt.order {
				if got := w.Confirm(c.seq, c.hi, Counts{Published: 1}); got != tt.want[i] {
					t.Fatalf("after confirming %d: watermark %d, want %d", c.seq, got, tt.want[i])
				}
			}
		})
	}
	// Concurrent confirmations in random order end at the last position.
	w := NewWatermark(5, Counts{Published: 5})
	perm := rand.Perm(1000)
	var wg sync.WaitGroup
	for _, i := range perm {
		wg.Go(func() { w.Confirm(int64(i), 5+int64(i+1)*3, Counts{Published: 3}) })
	}
	wg.Wait()
	if pos, c := w.Position(); pos != 3005 || c.Published != 3005 {
		t.Fatalf("position %d, published %d; want 3005, 3005", pos, c.Published)
	}
}

func TestCheckpointIdentity(t *testing.T) {
	dir := t.TempDir()
	id := Identity{Source: KindJSONL, Input: "abc", Filters: "tenants=a", StaleVersion: "v1"}
	cp := &Checkpoint{RunID: "run-1", Identity: id, Confirmed: 42, Counts: Counts{Published: 40, Filtered: 2}, Total: 100}
	if err := cp.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(dir, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Confirmed != 42 || got.Counts.Published != 40 {
		t.Fatalf("loaded %+v", got)
	}
	tests := []struct {
		name   string
		change func(*Identity)
		want   string
	}{
		{"same", func(*Identity) {}, ""},
		{"other file", func(i *Identity) { i.Input = "def" }, "input hash"},
		{"other filter", func(i *Identity) { i.Filters = "tenants=b" }, "filters"},
		{"other source", func(i *Identity) { i.Source = KindPostgres }, "source"},
		{"other stale version", func(i *Identity) { i.StaleVersion = "" }, "stale version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := id
			tt.change(&other)
			err := got.CheckResume(other)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "cannot resume") {
				t.Fatalf("err %v, want a mismatch naming %q", err, tt.want)
			}
		})
	}
	if _, err := LoadCheckpoint(dir, "nope"); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("missing checkpoint: %v", err)
	}
	if _, err := LoadCheckpoint(dir, "../etc/passwd"); err == nil {
		t.Fatal("path-like run id accepted")
	}
}

// writeJobs writes n jobs as JSONL: tenants t0..t2, created a day apart
// from 2026-11-01.
func writeJobs(t *testing.T, n int) string {
	t.Helper()
	var b bytes.Buffer
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		c := base.Add(time.Duration(i%30) * 24 * time.Hour)
		j := job.Job{ResponseID: fmt.Sprintf("r-%05d", i), Tenant: fmt.Sprint("t", i%3), Text: "the app is slow", CreatedAt: &c}
		enc, _ := json.Marshal(j)
		b.Write(enc)
		b.WriteByte('\n')
		if i%50 == 0 {
			b.WriteByte('\n') // blank lines are not records
		}
	}
	path := filepath.Join(t.TempDir(), "jobs.jsonl")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// memPublisher records messages; it confirms in a shuffled order by
// sleeping a little, and can fail after a number of messages.
type memPublisher struct {
	mu       sync.Mutex
	msgs     []sources.OutMessage
	failFrom int // 0: never
	maxBytes int
	// onPublish, if set, is called after each Publish call has recorded
	// its messages, with the number of messages recorded so far.
	onPublish func(msgs int)
}

func (p *memPublisher) Publish(ctx context.Context, msgs []sources.OutMessage) ([]string, error) {
	time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.onPublish != nil {
		defer func() { p.onPublish(len(p.msgs)) }()
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		if p.failFrom > 0 && len(p.msgs) >= p.failFrom {
			return ids, errkind.Errorf(errkind.Permanent, "denied", "publish denied")
		}
		p.msgs = append(p.msgs, m)
		ids[i] = fmt.Sprint("m", len(p.msgs))
	}
	return ids, nil
}

func (p *memPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs)
}

func (p *memPublisher) MaxMessageBytes() int {
	if p.maxBytes > 0 {
		return p.maxBytes
	}
	return 262_144
}
func (p *memPublisher) Close(context.Context) error { return nil }

func (p *memPublisher) jobs(t *testing.T) map[string]int {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]int{}
	for _, m := range p.msgs {
		var jobs []job.Job
		if err := json.Unmarshal(m.Body, &jobs); err != nil {
			t.Fatal(err)
		}
		if m.Attributes[job.AttrRunID] == "" {
			t.Fatal("message without run_id")
		}
		for _, j := range jobs {
			seen[j.ResponseID]++
		}
	}
	return seen
}

func openJSONL(t *testing.T, path string) (*JSONLReader, Identity) {
	t.Helper()
	r, err := OpenJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, Identity{Source: KindJSONL, Input: r.Hash()}
}

func TestRunDryRun(t *testing.T) {
	path := writeJobs(t, 1000)
	tests := []struct {
		name   string
		filter Filter
		want   int64
	}{
		{"all", Filter{}, 1000},
		{"one tenant", Filter{Tenants: []string{"t1"}}, 333},
		{"first ten days", Filter{Until: time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)}, 340},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, id := openJSONL(t, path)
			if r.Total() != 1000 {
				t.Fatalf("Total %d", r.Total())
			}
			var sample bytes.Buffer
			dir := t.TempDir()
			sum, err := Run(context.Background(), Options{RunID: "dry", Reader: r, Identity: id, Filter: tt.filter, DryRun: true, Sample: &sample, CheckpointDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Published != tt.want || sum.Filtered != 1000-tt.want || sum.Read != 1000 {
				t.Fatalf("summary %+v, want %d published", sum, tt.want)
			}
			if n := strings.Count(sample.String(), "\n"); n != sampleSize {
				t.Fatalf("sample of %d jobs:\n%s", n, sample.String())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("dry run wrote %d files", len(entries))
			}
		})
	}
}

func TestRunResume(t *testing.T) {
	path := writeJobs(t, 5000)
	dir := t.TempDir()
	pub := &memPublisher{failFrom: 20}
	r, id := openJSONL(t, path)
	opts := Options{RunID: "r1", Reader: r, Identity: id, Publisher: pub, JobsPerMessage: 50, InFlight: 4, CheckpointDir: dir, Filter: Filter{Tenants: []string{"t0", "t2"}}}
	id.Filters = opts.Filter.String()
	opts.Identity = id
	sum, err := Run(context.Background(), opts)
	if err == nil || errkind.KindOf(err) != errkind.Permanent {
		t.Fatalf("first attempt: err %v, want the publish failure", err)
	}
	cp, err := LoadCheckpoint(dir, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if cp.Done || cp.Confirmed == 0 || cp.Confirmed >= 5000 || cp.Counts.Published > 20*50 {
		t.Fatalf("checkpoint after failure: %+v (summary %+v)", cp, sum)
	}
	// A resume with another filter is refused.
	r2, id2 := openJSONL(t, path)
	_, err = Run(context.Background(), Options{RunID: "r1", Reader: r2, Identity: id2, Publisher: pub, Resume: cp, CheckpointDir: dir})
	if err == nil || !strings.Contains(err.Error(), "filters") {
		t.Fatalf("resume with other filters: %v", err)
	}
	pub.mu.Lock()
	pub.failFrom = 0
	pub.mu.Unlock()
	r3, _ := openJSONL(t, path)
	opts.Reader, opts.Resume = r3, cp
	sum, err = Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Resumed != cp.Confirmed {
		t.Fatalf("resumed %d, checkpoint %d", sum.Resumed, cp.Confirmed)
	}
	seen := pub.jobs(t)
	want := 0
	for i := range 5000 {
		if i%3 != 1 {
			want++
			if seen[fmt.Sprintf("r-%05d", i)] == 0 {
				t.Fatalf("r-%05d never published", i)
			}
		}
	}
	if len(seen) != want {
		t.Fatalf("%d distinct jobs published, want %d", len(seen), want)
	}
	cp, err = LoadCheckpoint(dir, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if !cp.Done || cp.Confirmed != 5000 || cp.Counts.Published != int64(want) || cp.Counts.Filtered != int64(5000-want) {
		t.Fatalf("final checkpoint %+v", cp)
	}
}

func TestRunInterrupt(t *testing.T) {
	const (
		n           = 20000
		perMsg      = 10
		inFlight    = 4
		cancelAfter = 50 // messages
	)
	path := writeJobs(t, n)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The publisher interrupts the run once cancelAfter messages are out,
	// so the run stops on a count, not on the clock: however fast the
	// machine and however large the limiter's burst, it is interrupted
	// with most of the input unread.
	pub := &memPublisher{onPublish: func(msgs int) {
		if msgs >= cancelAfter {
			cancel()
		}
	}}
	r, id := openJSONL(t, path)
	opts := Options{RunID: "int", Reader: r, Identity: id, Publisher: pub, JobsPerMessage: perMsg, InFlight: inFlight, Rate: 20000, CheckpointDir: dir}
	sum, err := Run(ctx, opts)
	if !sum.Interrupted || errkind.KindOf(err) != errkind.Canceled {
		t.Fatalf("summary %+v, err %v: want interrupted", sum, err)
	}
	// It stops early: after the cancel only what was already queued or
	// in flight goes out (at most inFlight groups of maxPublishGroup
	// messages, the queue of 2 × inFlight and the one being queued; with a
	// rate, the producer's next limiter wait returns at once).
	if got, most := pub.count(), cancelAfter+2*inFlight*maxPublishGroup; got < cancelAfter || got > most {
		t.Fatalf("%d messages published, want %d to %d", got, cancelAfter, most)
	}
	cp, err := LoadCheckpoint(dir, "int")
	if err != nil {
		t.Fatal(err)
	}
	seen := pub.jobs(t)
	// Everything published is covered by the checkpoint: nothing beyond it.
	if int64(len(seen)) != cp.Confirmed || cp.Counts.Published != cp.Confirmed || cp.Confirmed == 0 || cp.Confirmed == n || cp.Done {
		t.Fatalf("published %d distinct, checkpoint %+v", len(seen), cp)
	}
	if sum.Confirmed != cp.Confirmed || sum.Published != cp.Confirmed {
		t.Fatalf("summary %+v, checkpoint %+v", sum, cp)
	}
	for i := range int(cp.Confirmed) {
		if seen[fmt.Sprintf("r-%05d", i)] != 1 {
			t.Fatalf("r-%05d published %d times", i, seen[fmt.Sprintf("r-%05d", i)])
		}
	}

	// The resume publishes the rest, and nothing twice.
	r2, _ := openJSONL(t, path)
	opts.Reader, opts.Resume, opts.Rate = r2, cp, 0
	sum, err = Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Interrupted || sum.Resumed != cp.Confirmed || sum.Published != n-cp.Confirmed {
		t.Fatalf("resume summary %+v, checkpoint %+v", sum, cp)
	}
	seen = pub.jobs(t)
	if len(seen) != n {
		t.Fatalf("%d distinct jobs published, want %d", len(seen), n)
	}
	for i := range n {
		if c := seen[fmt.Sprintf("r-%05d", i)]; c != 1 {
			t.Fatalf("r-%05d published %d times", i, c)
		}
	}
	cp, err = LoadCheckpoint(dir, "int")
	if err != nil {
		t.Fatal(err)
	}
	if !cp.Done || cp.Confirmed != n || cp.Counts.Published != n {
		t.Fatalf("final checkpoint %+v", cp)
	}
}

func TestLimiterBurst(t *testing.T) {
	tests := []struct {
		rate   float64
		perMsg int
		want   int
	}{
		{20000, 10, 2000}, // a tenth of a second's worth, not a second's
		{5000, 100, 500},
		{1000, 100, 100},
		{500, 100, 100}, // one message: the limiter is charged per message
		{10, 100, 100},  // one message every 10 s
		{0.5, 1, 1},     // never below one job
		{33.3, 1, 4},    // rounded up
		{1e300, 1, 1<<31 - 1},
	}
	for _, tt := range tests {
		if got := limiterBurst(tt.rate, tt.perMsg); got != tt.want {
			t.Errorf("limiterBurst(%v, %d) = %d, want %d", tt.rate, tt.perMsg, got, tt.want)
		}
	}
	// The bucket starts full with exactly the burst: that, and no more, can
	// go out at the start, whatever the clock says (explicit times, no
	// waiting).
	const r, perMsg = 5000, 100
	lim := rate.NewLimiter(rate.Limit(r), limiterBurst(r, perMsg))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	sent := 0
	for lim.AllowN(t0, perMsg) {
		sent += perMsg
	}
	if sent != r/10 {
		t.Fatalf("%d jobs allowed at the start, want %d (a tenth of a second's worth)", sent, r/10)
	}
	// After an idle second the bucket holds the burst again, not the
	// second's worth of tokens that accrued: a stall is followed by at most
	// the burst too.
	sent = 0
	t1 := t0.Add(time.Second)
	for lim.AllowN(t1, perMsg) {
		sent += perMsg
	}
	if sent != r/10 {
		t.Fatalf("%d jobs allowed after an idle second, want the burst %d", sent, r/10)
	}
}

type fakeStale map[Key]bool

func (f fakeStale) Scored(_ context.Context, _ string, keys []Key) (map[Key]bool, error) {
	if len(keys) > staleBatch {
		return nil, fmt.Errorf("%d keys in one call", len(keys))
	}
	out := map[Key]bool{}
	for _, k := range keys {
		if f[k] {
			out[k] = true
		}
	}
	return out, nil
}
func (fakeStale) Close() error { return nil }

func TestRunStale(t *testing.T) {
	path := writeJobs(t, 3000)
	scored := fakeStale{}
	for i := 0; i < 3000; i += 2 {
		scored[Key{Tenant: fmt.Sprint("t", i%3), ResponseID: fmt.Sprintf("r-%05d", i)}] = true
	}
	r, id := openJSONL(t, path)
	pub := &memPublisher{}
	sum, err := Run(context.Background(), Options{RunID: "st", Reader: r, Identity: id, Publisher: pub, Stale: scored, StaleVersion: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stale != 1500 || sum.Published != 1500 {
		t.Fatalf("summary %+v", sum)
	}
}
