package bench

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/chorusml/chorus/sinks/memsink"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/memsource"
	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/endpoint/instant"
)

// StartupResult is the cost of starting a worker.
type StartupResult struct {
	UnusedModels int
	Parse        time.Duration // YAML parse, defaults and validation
	Ready        time.Duration // worker.New + Run until it pulls
	HeapBytes    int64         // live heap added by the started worker
}

// Startup measures start-up to ready for the demo's models plus unused
// configured models, which must cost nothing until a job needs them.
func Startup(ctx context.Context, unused int) (*StartupResult, error) {
	var b strings.Builder
	b.WriteString(memWorker)
	b.WriteString(strings.ReplaceAll(demoModels, "ADDR", "127.0.0.1:1"))
	// Appended after the tenants, as a second models list would not parse:
	// splice the unused models into the models section instead.
	yaml := b.String()
	if unused > 0 {
		var extra strings.Builder
		for i := range unused {
			fmt.Fprintf(&extra, "  - {name: unused-%d, protocol: open-inference, url: \"http://127.0.0.1:1\", labels: [a, b]}\n", i)
		}
		yaml = strings.Replace(yaml, "pipelines:\n", extra.String()+"pipelines:\n", 1)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	t0 := time.Now()
	cfg, err := parseConfig(yaml)
	if err != nil {
		return nil, err
	}
	parsed := time.Since(t0)
	t1 := time.Now()
	topic := memsource.NewTopic(memsource.TopicOptions{})
	src := memsource.NewSource(topic, sources.FlowControl{})
	w, err := worker.New(worker.Options{Config: cfg, Source: src, Sink: memsink.New(), Clients: instant.Factory, Logger: zerolog.Nop()})
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- w.Run(runCtx) }()
	for !w.Ready() {
		time.Sleep(50 * time.Microsecond)
	}
	ready := time.Since(t1)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	stop()
	if err := <-errc; err != nil {
		return nil, err
	}
	runtime.KeepAlive(cfg)
	return &StartupResult{UnusedModels: unused, Parse: parsed, Ready: ready, HeapBytes: int64(after.HeapAlloc) - int64(before.HeapAlloc)}, nil
}
