package main

import (
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"

	"github.com/chorusml/chorus/cmd/chorus/wiring"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/metrics"
	"github.com/chorusml/chorus/worker/ops"
)

func runCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	path := fs.String("config", "", "config file (YAML)")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics, /healthz and /readyz here (overrides metrics.addr)")
	idle := fs.Duration("exit-when-idle", 0, "stop (draining cleanly, exit 0) once no message has arrived for this long; for batch jobs on a queue (0: run until stopped)")
	pprof := fs.Bool("pprof", false, "also serve net/http/pprof under /debug/pprof/ on the metrics listener")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return &exitError{2, errors.New("run: --config FILE is required")}
	}
	cfg, err := config.Load(*path, os.Getenv)
	if err != nil {
		return &exitError{2, err}
	}
	if *metricsAddr != "" {
		cfg.Metrics.Addr = *metricsAddr
	}
	log, err := ops.NewLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return &exitError{2, err}
	}
	reg := ops.NewRegistry()
	// The listener starts before the worker, so readiness is swapped in
	// once the worker exists.
	var ready atomic.Pointer[func() error]
	// Health and metrics outlive the signal: they answer through the drain
	// (readiness false from the signal on) and stop when the worker has.
	opsCtx, stopOps := context.WithCancel(context.WithoutCancel(ctx))
	defer stopOps()
	if cfg.Metrics.Addr != "" {
		addr, _, err := ops.Serve(opsCtx, cfg.Metrics.Addr, ops.Handler(reg, func() error {
			if r := ready.Load(); r != nil {
				return (*r)()
			}
			return errors.New("starting")
		}, ops.HandlerOptions{Pprof: *pprof}))
		if err != nil {
			return err
		}
		log.Info().Str("addr", addr.String()).Msg("metrics and health listening")
	}
	return wiring.Run(ctx, cfg, wiring.RunOptions{
		Logger: log, Getenv: os.Getenv, Metrics: metrics.New(reg), ExitWhenIdle: *idle,
		Ready: func(r func() error) { ready.Store(&r) },
	})
}
