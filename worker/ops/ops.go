// Package ops is the worker's operational surface: structured logging and
// the HTTP listener for Prometheus metrics, liveness and readiness.
package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"golang.org/x/term"
)

// NewLogger returns a zerolog logger writing JSON, or console-pretty output
// when format is "console", or "auto" (or empty) and out is a terminal.
func NewLogger(out io.Writer, level, format string) (zerolog.Logger, error) {
	lvl := zerolog.InfoLevel
	if level != "" {
		l, err := zerolog.ParseLevel(strings.ToLower(level))
		if err != nil {
			return zerolog.Nop(), fmt.Errorf("log.level: got %q, expected debug, info, warn or error", level)
		}
		lvl = l
	}
	pretty := false
	switch format {
	case "json":
	case "console":
		pretty = true
	case "", "auto":
		if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			pretty = true
		}
	default:
		return zerolog.Nop(), fmt.Errorf("log.format: got %q, expected json, console or auto", format)
	}
	if pretty {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger(), nil
}

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// HandlerOptions are the listener's optional parts.
type HandlerOptions struct {
	// Pprof serves net/http/pprof under /debug/pprof/. Off by default: the
	// profiles expose internals and a CPU profile costs CPU, so operators
	// turn it on for an investigation, on a listener they do not publish.
	Pprof bool
}

// Handler serves /metrics, /healthz (the process is alive) and /readyz
// (ready returns nil when the worker can take work, or says why not).
func Handler(g prometheus.Gatherer, ready func() error, o HandlerOptions) http.Handler {
	mux := http.NewServeMux()
	if o.Pprof {
		// Registered by hand: importing net/http/pprof for its side effect
		// would put it on http.DefaultServeMux for the whole process.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	return mux
}

// Serve listens on addr and serves h until ctx ends.
func Serve(ctx context.Context, addr string, h http.Handler) (net.Addr, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics listener %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr(), errc, nil
}
