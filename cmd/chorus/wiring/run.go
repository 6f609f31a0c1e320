package wiring

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/api/option"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/bqsink"
	"github.com/chorusml/chorus/sinks/filesink"
	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/awssqs"
	"github.com/chorusml/chorus/sources/filesource"
	"github.com/chorusml/chorus/sources/gcppubsub"
	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/metrics"
)

// OpenSource opens the configured source.
func OpenSource(ctx context.Context, cfg *config.Config) (sources.Source, error) {
	return openSource(ctx, cfg, "source", cfg.Source)
}

// OpenBackfillSource opens backfill_source, or returns nil when none is
// configured. It has flow control of its own, so that a backlog read from
// it never takes the live source's room.
func OpenBackfillSource(ctx context.Context, cfg *config.Config) (sources.Source, error) {
	if cfg.BackfillSource.Type == "" {
		return nil, nil
	}
	return openSource(ctx, cfg, "backfill_source", cfg.BackfillSource)
}

func openSource(ctx context.Context, cfg *config.Config, field string, s config.Source) (sources.Source, error) {
	fc := sources.FlowControl{
		MaxOutstandingMessages: cfg.Worker.MaxOutstandingMessages,
		MaxOutstandingBytes:    cfg.Worker.MaxOutstandingBytes,
	}
	switch s.Type {
	case "file":
		return filesource.Open(s.File.Path, filesource.Options{
			FlowControl: fc, DeadLetterPath: s.File.DeadLetterPath,
		})
	case "pubsub":
		ps := s.PubSub
		var opts []option.ClientOption
		if ps.Endpoint != "" {
			opts = append(opts, option.WithEndpoint(ps.Endpoint))
		}
		src, err := gcppubsub.Open(ctx, gcppubsub.Options{
			Project: ps.Project, Subscription: ps.Subscription, DeadLetterTopic: ps.DeadLetterTopic,
			Streams: ps.Streams, MaxExtension: ps.MaxExtension, MaxExtensionPeriod: ps.MaxExtensionPeriod,
			FlowControl: fc, ClientOptions: opts,
		})
		if err != nil {
			return nil, fmt.Errorf("%s.pubsub: %w", field, err)
		}
		return src, nil
	case "sqs":
		sq := s.SQS
		client, err := awssqs.NewClient(ctx, sq.Region, sq.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("%s.sqs: %w", field, err)
		}
		src, err := awssqs.New(client, awssqs.Options{
			QueueURL: sq.QueueURL, DeadLetterQueueURL: sq.DeadLetterQueueURL, Pollers: sq.Pollers,
			WaitTime: sq.WaitTime, VisibilityTimeout: sq.VisibilityTimeout, MaxExtension: sq.MaxExtension,
			FlowControl: fc,
		})
		if err != nil {
			return nil, fmt.Errorf("%s.sqs: %w", field, err)
		}
		return src, nil
	case "memory":
		return nil, fmt.Errorf("%s.type: memory has no producer outside the demo and tests; use file, pubsub or sqs", field)
	default:
		return nil, fmt.Errorf("%s.type: %q is not available in this build yet", field, s.Type)
	}
}

// OpenSink opens the configured sink. A sink that is unreachable at
// start-up is not fatal (writes retry and pulling waits); one that can never
// work (a missing table, bad credentials) is.
func OpenSink(ctx context.Context, cfg *config.Config, getenv func(string) string, log zerolog.Logger) (sinks.Sink, error) {
	switch cfg.Sink.Type {
	case "file":
		return filesink.Open(cfg.Sink.File.Path, filesink.Options{})
	case "postgres":
		s, err := pgsink.Open(ctx, postgresOptions(cfg, getenv))
		if err != nil {
			return nil, fmt.Errorf("sink.postgres: %w", err)
		}
		if err := s.Check(ctx); err != nil {
			if !errkind.IsRetryable(err) {
				_ = s.Close(ctx)
				return nil, fmt.Errorf("sink.postgres: %w (run chorus migrate?)", err)
			}
			log.Warn().Err(err).Msg("postgres not reachable at start-up; writes will retry")
		}
		return s, nil
	case "bigquery":
		s, err := bqsink.Open(ctx, BigQueryOptions(cfg))
		if err != nil {
			return nil, fmt.Errorf("sink.bigquery: %w", err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("sink.type: %q is not available in this build yet", cfg.Sink.Type)
	}
}

// postgresOptions are the Postgres sink's options from cfg, with the
// driver's defaults for what the config leaves zero (the config does not
// define them: see config.ApplyDefaults).
func postgresOptions(cfg *config.Config, getenv func(string) string) pgsink.Options {
	pg := cfg.Sink.Postgres
	return pgsink.Options{
		DSN: getenv(pg.DSNEnv), Schema: pg.Schema, Table: pg.Table,
		MaxConns: int32(pg.MaxConns), StatementTimeout: pg.StatementTimeout,
	}.WithDefaults()
}

// RunOptions are what `chorus run` adds to a config.
type RunOptions struct {
	Logger zerolog.Logger
	Getenv func(string) string
	// Ready, if set, is called once the worker pulls, with its readiness.
	Ready func(ready func() error)
	// Metrics, if set, receives the worker's collectors (registered by the
	// caller's registry).
	Metrics *metrics.Metrics
	// ExitWhenIdle, if positive, stops the worker (a clean drain) once it
	// has held no message for this long: a batch job on a subscription or
	// queue ends when the backlog is done instead of running to a timeout.
	ExitWhenIdle time.Duration
}

// Run assembles the worker from cfg and runs it until ctx ends. A source
// that reaches its end (a file) stops the worker once drained.
func Run(ctx context.Context, cfg *config.Config, o RunOptions) error {
	start := time.Now()
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	clients, err := Clients(cfg, o.Getenv, o.Logger)
	if err != nil {
		return err
	}
	src, err := OpenSource(ctx, cfg)
	if err != nil {
		return err
	}
	backfill, err := OpenBackfillSource(ctx, cfg)
	if err != nil {
		_ = src.Close(ctx)
		return err
	}
	closeSources := func() {
		_ = src.Close(ctx)
		if backfill != nil {
			_ = backfill.Close(ctx)
		}
	}
	sink, err := OpenSink(ctx, cfg, o.Getenv, o.Logger)
	if err != nil {
		closeSources()
		return err
	}
	w, err := worker.New(worker.Options{Config: cfg, Source: src, Backfill: backfill, Sink: sink, Clients: clients, Logger: o.Logger, Metrics: o.Metrics})
	if err != nil {
		closeSources()
		_ = sink.Close(ctx)
		return err
	}
	if o.Ready != nil {
		var sinkProbe *probe
		if c, ok := sink.(checker); ok {
			sinkProbe = newProbe(c.Check)
		}
		o.Ready(func() error { return ready(ctx, w, sinkProbe) })
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if done := drained(ctx, src, backfill); done != nil {
		go func() {
			select {
			case <-done:
				o.Logger.Info().Msg("source drained; stopping")
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	if o.ExitWhenIdle > 0 {
		go stopWhenIdle(ctx, w, o.ExitWhenIdle, cancel, o.Logger)
	}
	o.Logger.Info().Dur("startup", time.Since(start)).Msg("chorus worker ready")
	return w.Run(ctx)
}

// drained is closed once every source that can end (a file) has ended,
// or nil when one of them never ends.
func drained(ctx context.Context, srcs ...sources.Source) <-chan struct{} {
	var dones []<-chan struct{}
	for _, s := range srcs {
		if s == nil {
			continue
		}
		d, ok := s.(interface{ Done() <-chan struct{} })
		if !ok {
			return nil
		}
		dones = append(dones, d.Done())
	}
	out := make(chan struct{})
	go func() {
		for _, d := range dones {
			select {
			case <-d:
			case <-ctx.Done():
				return
			}
		}
		close(out)
	}()
	return out
}

// stopWhenIdle cancels the worker once it has been idle for d.
func stopWhenIdle(ctx context.Context, w *worker.Worker, d time.Duration, cancel context.CancelFunc, log zerolog.Logger) {
	t := time.NewTicker(min(max(d/10, 10*time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if idle := w.IdleFor(); idle >= d {
				log.Info().Dur("idle", idle).Msg("no message for the idle limit; stopping")
				cancel()
				return
			}
		}
	}
}

// checker is a sink that can say whether it is reachable (pgsink).
type checker interface {
	Check(ctx context.Context) error
}

// ready is /readyz: the worker's own health, then, for a sink that can
// check, a look at it (cached: see probe). An idle worker writes nothing,
// so without the look a sink gone while idle would show only at the next
// write.
func ready(ctx context.Context, w *worker.Worker, sink *probe) error {
	if err := w.Health(); err != nil {
		return err
	}
	if sink == nil {
		return nil
	}
	return sink.Check(ctx)
}

// BigQueryOptions maps the bigquery sink config to the driver's options.
func BigQueryOptions(cfg *config.Config) bqsink.Options {
	bq := cfg.Sink.BigQuery
	rest, write := bqsink.EndpointOptions(bq.RESTEndpoint, bq.Endpoint)
	return bqsink.Options{
		Project: bq.Project, Dataset: bq.Dataset, Table: bq.Table, Location: bq.Location,
		ClientOptions: rest, WriteClientOptions: write,
	}
}
