// Package bench measures the worker against its performance targets
// (README.md § Performance) and writes the figures as a report. The
// figures are reported, never asserted: timing assertions in tests flake
// on shared machines and prove nothing.
package bench

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/memsource"
	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/metrics"
)

// Options size the runs. Zero values take the defaults used by `make bench`.
type Options struct {
	// Data is chorus.Data (reference model training files).
	Data fs.FS
	// Progress receives a line per scenario.
	Progress io.Writer
	// OverheadJobs is the number of jobs for the overhead run.
	OverheadJobs int
	// CapacityJobs is the backlog for the capacity run.
	CapacityJobs int
	// TrickleJobs is the number of jobs sent one every TrickleEvery.
	TrickleJobs  int
	TrickleEvery time.Duration
	// MemoryJobs is the backlog for the memory run.
	MemoryJobs int
	// IsoWarmup and IsoMeasure time the isolation runs (fairness, lanes,
	// bad model); IsoBacklog is the backfill backlog in 100-job messages.
	IsoWarmup, IsoMeasure time.Duration
	IsoBacklog            int
}

func (o *Options) defaults() {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.OverheadJobs == 0 {
		o.OverheadJobs = 200_000
	}
	if o.CapacityJobs == 0 {
		o.CapacityJobs = 40_000
	}
	if o.TrickleJobs == 0 {
		o.TrickleJobs = 200
	}
	if o.MemoryJobs == 0 {
		o.MemoryJobs = 1_000_000
	}
	if o.IsoWarmup == 0 {
		o.IsoWarmup = time.Second
	}
	if o.IsoMeasure == 0 {
		o.IsoMeasure = 8 * time.Second
	}
	if o.IsoBacklog == 0 {
		o.IsoBacklog = 1000
	}
	if o.TrickleEvery == 0 {
		o.TrickleEvery = 50 * time.Millisecond
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxRSS is the process's peak resident set size in bytes.
func maxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}

func parseConfig(yaml string) (*config.Config, error) {
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	return cfg, nil
}

// countingSink commits by counting: the overhead run measures the worker,
// not a disk or a map that grows with the run.
type countingSink struct {
	mu      sync.Mutex
	rows    int
	onWrite func([]sinks.Result)
}

func (s *countingSink) Write(_ context.Context, rows []sinks.Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows += len(rows)
	if s.onWrite != nil {
		s.onWrite(rows) // under the lock: callbacks see writes in commit order
	}
	return nil
}

func (s *countingSink) Close(context.Context) error { return nil }

var _ sinks.Sink = (*countingSink)(nil)

// runWorker runs a worker over topic until every message is acked.
func runWorker(ctx context.Context, cfg *config.Config, topic *memsource.Topic, sink sinks.Sink, clients worker.ClientFactory, total int) (time.Duration, error) {
	return runWorkerMetrics(ctx, cfg, topic, sink, clients, total, nil)
}

// runWorkerMetrics is runWorker with the worker's metrics (nil: its own).
func runWorkerMetrics(ctx context.Context, cfg *config.Config, topic *memsource.Topic, sink sinks.Sink, clients worker.ClientFactory, total int, m *metrics.Metrics) (time.Duration, error) {
	src := memsource.NewSource(topic, sources.FlowControl{
		MaxOutstandingMessages: cfg.Worker.MaxOutstandingMessages,
		MaxOutstandingBytes:    cfg.Worker.MaxOutstandingBytes,
	})
	w, err := worker.New(worker.Options{Config: cfg, Source: src, Sink: sink, Clients: clients, Logger: zerolog.Nop(), Metrics: m})
	if err != nil {
		return 0, err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- w.Run(runCtx) }()
	for {
		s := topic.Stats()
		if s.Acked+s.DeadLettered >= int64(total) && s.Ready+s.Delayed+s.Outstanding == 0 {
			break
		}
		select {
		case err := <-errc:
			return 0, fmt.Errorf("worker stopped early: %v", err)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	stop()
	return elapsed, <-errc
}

// serve starts a model server on a loopback port.
func serve(ctx context.Context, models []refmodel.Model, o modelserver.Options) (*modelserver.Server, string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	srv := modelserver.New(models, o)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = srv.Serve(sctx, ln); close(done) }()
	return srv, ln.Addr().String(), func() { cancel(); <-done }, nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p * float64(len(s)-1))
	return s[i]
}

// Machine describes where the report was measured.
func Machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if i := strings.IndexByte(l, ':'); i >= 0 {
					cpu = strings.TrimSpace(l[i+1:])
				}
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs (GOMAXPROCS %d), %s/%s, %s", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
}
