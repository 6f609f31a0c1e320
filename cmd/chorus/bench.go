package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/chorusml/chorus"
	"github.com/chorusml/chorus/cmd/chorus/tools/bench"
)

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	report := fs.String("report", "bench/REPORT.md", "write the Markdown report here")
	var o bench.Options
	fs.IntVar(&o.OverheadJobs, "overhead-jobs", 0, "jobs for the overhead run (default 200000)")
	fs.IntVar(&o.CapacityJobs, "capacity-jobs", 0, "backlog for the capacity run (default 40000)")
	fs.IntVar(&o.TrickleJobs, "trickle-jobs", 0, "jobs for the trickle run (default 200)")
	fs.IntVar(&o.MemoryJobs, "memory-jobs", 0, "backlog for the memory run (default 1000000)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.Data = chorus.Data
	o.Progress = stderr
	r, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	md := r.Markdown()
	if err := os.WriteFile(*report, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprint(stdout, md)
	return nil
}
