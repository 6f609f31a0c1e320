// Package demo runs Chorus end to end on embedded data with nothing to
// install: the reference models served on a loopback port, the demo
// feedback published to an in-memory queue, the real worker scoring it,
// and a JSONL file sink. It ends with a summary a new user can read.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
	"github.com/chorusml/chorus/cmd/chorus/wiring"
	"github.com/chorusml/chorus/sinks/filesink"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/metrics"
)

// FeedbackPath is the demo input inside Options.Data.
const FeedbackPath = "testdata/demo/feedback.jsonl"

// LLMFeedbackPath is the feedback of hooli, the tenant whose tags come
// from an LLM (protocol openai), published after FeedbackPath.
const LLMFeedbackPath = "testdata/demo/llm-feedback.jsonl"

// RunID tags every demo message, as a backfill would.
const RunID = "demo"

// Options configure a demo run.
type Options struct {
	// Data holds the training files and FeedbackPath (chorus.Data).
	Data fs.FS
	// Config is the demo's YAML config (deploy/examples/demo.yaml).
	Config []byte
	// OutDir receives results.jsonl, dead-letters.jsonl, summary.json and
	// worker.log. Default "chorus-out".
	OutDir string
	// Out receives progress and the summary.
	Out io.Writer
	// Terminal redraws one progress line instead of printing a line a second.
	Terminal bool
}

// Output file names inside OutDir.
const (
	ResultsFile     = "results.jsonl"
	DeadLettersFile = "dead-letters.jsonl"
	SummaryFile     = "summary.json"
	LogFile         = "worker.log"
)

// Run scores the demo feedback and returns the summary it printed.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if o.OutDir == "" {
		o.OutDir = "chorus-out"
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	for _, f := range []string{ResultsFile, DeadLettersFile, SummaryFile, LogFile} {
		if err := os.Remove(filepath.Join(o.OutDir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	cfg, err := config.Parse(o.Config, nil)
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	cfg.Sink.File.Path = filepath.Join(o.OutDir, ResultsFile)

	logf, err := os.Create(filepath.Join(o.OutDir, LogFile))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	log := zerolog.New(logf).With().Timestamp().Logger()

	// The reference models, served over real HTTP on a free loopback port.
	started := time.Now()
	models, err := refmodel.LoadAll(o.Data)
	if err != nil {
		return nil, err
	}
	trained := time.Since(started)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	srvDone := make(chan error, 1)
	go func() { srvDone <- modelserver.New(models, modelserver.Options{}).Serve(srvCtx, ln) }()
	defer func() { stopSrv(); <-srvDone }()
	if err := wiring.PointModelsAt(cfg, ln.Addr().String()); err != nil {
		return nil, err
	}

	// The feedback, published to Pub/Sub (pstest, in-process).
	br, err := startBroker(ctx)
	if err != nil {
		return nil, fmt.Errorf("demo pub/sub: %w", err)
	}
	defer br.close()
	published, err := br.publish(o.Data)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "Chorus demo: %d messages of customer feedback on Pub/Sub (pstest, in-process), %d reference models (trained in %s) on http://%s\n",
		published, len(models), trained.Round(time.Millisecond), ln.Addr())

	clients, err := wiring.Clients(cfg, nil, zerolog.Nop())
	if err != nil {
		return nil, err
	}
	// Compacting on close leaves exactly one line per job for the reader.
	sink, err := filesink.Open(cfg.Sink.File.Path, filesink.Options{CompactOnClose: true})
	if err != nil {
		return nil, err
	}
	src, err := br.source(ctx, sources.FlowControl{
		MaxOutstandingMessages: cfg.Worker.MaxOutstandingMessages,
		MaxOutstandingBytes:    cfg.Worker.MaxOutstandingBytes,
	})
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	w, err := worker.New(worker.Options{Config: cfg, Source: src, Sink: sink, Clients: clients, Logger: log, Metrics: m})
	if err != nil {
		return nil, err
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	begin := time.Now()
	go func() { runErr <- w.Run(runCtx) }()
	interrupted := !waitSettled(ctx, br, published, o, begin)
	elapsed := time.Since(begin)
	stop()
	if err := <-runErr; err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	if interrupted {
		return nil, ctx.Err()
	}

	results, err := filesink.ReadAll(cfg.Sink.File.Path)
	if err != nil {
		return nil, err
	}
	dead := br.deadLetters()
	if err := writeDeadLetters(filepath.Join(o.OutDir, DeadLettersFile), dead); err != nil {
		return nil, err
	}
	sum, err := summarize(reg, cfg, results, dead, published, elapsed)
	if err != nil {
		return nil, err
	}
	sum.OutDir = o.OutDir
	if err := writeJSON(filepath.Join(o.OutDir, SummaryFile), sum); err != nil {
		return nil, err
	}
	sum.Print(o.Out)
	return sum, nil
}

// waitSettled shows progress until every message is acked; false if ctx
// ended first.
func waitSettled(ctx context.Context, br *broker, total int, o Options, begin time.Time) bool {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastLine := time.Now()
	for {
		done := br.progress()
		if o.Terminal {
			fmt.Fprintf(o.Out, "\r  %s %d/%d messages  %s", bar(done, total, 30), done, total, time.Since(begin).Round(100*time.Millisecond))
		} else if time.Since(lastLine) >= time.Second || done == total {
			fmt.Fprintf(o.Out, "  %d/%d messages done after %s\n", done, total, time.Since(begin).Round(100*time.Millisecond))
			lastLine = time.Now()
		}
		if done == total {
			if o.Terminal {
				fmt.Fprintln(o.Out)
			}
			return true
		}
		select {
		case <-ctx.Done():
			if o.Terminal {
				fmt.Fprintln(o.Out)
			}
			return false
		case <-tick.C:
		}
	}
}

func bar(done, total, width int) string {
	n := 0
	if total > 0 {
		n = done * width / total
	}
	b := make([]byte, 0, width+2)
	b = append(b, '[')
	for i := range width {
		if i < n {
			b = append(b, '#')
		} else {
			b = append(b, '.')
		}
	}
	return string(append(b, ']'))
}

// deadLetterRecord is one line of dead-letters.jsonl.
type deadLetterRecord struct {
	Reason     string            `json:"reason"`
	Stage      string            `json:"stage"`
	Detail     string            `json:"detail"`
	Body       string            `json:"body"`
	Attributes map[string]string `json:"attributes"`
}

func writeDeadLetters(path string, dead []deadLettered) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, d := range dead {
		if err := enc.Encode(deadLetterRecord{
			Reason: d.Attributes[sources.AttrErrorClass], Stage: d.Attributes[sources.AttrFailedAt],
			Detail: d.Attributes[sources.AttrError], Body: string(d.Body), Attributes: d.Attributes,
		}); err != nil {
			return err
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
