package main

import (
	"fmt"
	"io"
	"os"

	"github.com/rs/zerolog"

	"github.com/chorusml/chorus/cmd/chorus/wiring"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/router"
)

func configValidateCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("config validate", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &exitError{2, fmt.Errorf("config validate: expected one FILE, got %d arguments", fs.NArg())}
	}
	cfg, err := config.Load(fs.Arg(0), os.Getenv)
	if err != nil {
		return &exitError{2, err}
	}
	// What start-up would check beyond the file: credentials and TLS files,
	// and that every tenant's route has models.
	if _, err := wiring.Clients(cfg, os.Getenv, zerolog.Nop()); err != nil {
		return &exitError{2, err}
	}
	if _, err := router.New(cfg); err != nil {
		return &exitError{2, err}
	}
	fmt.Fprintf(stdout, "%s: ok (%d models, %d pipelines, %d tenants)\n", fs.Arg(0), len(cfg.Models), len(cfg.Pipelines), len(cfg.Tenants))
	return nil
}
