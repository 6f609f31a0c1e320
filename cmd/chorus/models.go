package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/chorusml/chorus"
	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel/eval"
)

func modelsServeCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("models serve", stderr)
	addr := fs.String("addr", "127.0.0.1:8500", "listen address")
	only := fs.String("models", "", "comma-separated model names to serve (default: all)")
	var o modelserver.Options
	fs.DurationVar(&o.BatchCost, "batch-cost", 0, "emulated GPU cost per batch (e.g. 20ms)")
	fs.DurationVar(&o.ItemCost, "item-cost", 0, "emulated GPU cost per item (e.g. 500us)")
	fs.IntVar(&o.MaxConcurrent, "max-concurrent", 0, "batches each model runs at once (0: unlimited)")
	fs.IntVar(&o.MaxBatch, "max-batch", 0, "largest batch accepted, also reported as the server's limit; larger ones are refused in the dialect's words (0: unlimited)")
	fs.Var(&o.Dialects, "dialect", "protocol=dialect, repeatable, the real server each protocol answers as ("+modelserver.DialectUsage()+"; the first of each is the default)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	models, err := refmodel.LoadAll(chorus.Data)
	if err != nil {
		return err
	}
	if *only != "" {
		want := map[string]bool{}
		for _, n := range strings.Split(*only, ",") {
			want[strings.TrimSpace(n)] = true
		}
		var kept []refmodel.Model
		for _, m := range models {
			if want[m.Name()] {
				kept = append(kept, m)
				delete(want, m.Name())
			}
		}
		for n := range want {
			return &exitError{2, fmt.Errorf("--models: no reference model named %q", n)}
		}
		models = kept
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	srv := modelserver.New(models, o)
	fmt.Fprintf(stderr, "serving %d reference models on %s (dialects %s)\n", len(models), base, o.Dialects.String())
	for _, m := range models {
		fmt.Fprintf(stderr, "  %-16s version %s  labels %s\n", m.Name(), m.Version(), strings.Join(m.Labels(), ","))
		fmt.Fprintf(stderr, "    open-inference  POST %s/v2/models/%s/infer\n", base, m.Name())
		fmt.Fprintf(stderr, "    vertex          POST %s/v1/models/%s:predict\n", base, m.Name())
		fmt.Fprintf(stderr, "    tei             POST %s/tei/%s/predict\n", base, m.Name())
		fmt.Fprintf(stderr, "    openai          POST %s/v1/chat/completions  (model %q)\n", base, m.Name())
	}
	return srv.Serve(ctx, ln)
}

func modelsEvalCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("models eval", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rep, err := eval.Run(chorus.Data)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep.Markdown())
	return nil
}
