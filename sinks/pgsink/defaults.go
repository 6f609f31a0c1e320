package pgsink

import "time"

// The driver's defaults are the one definition of the Postgres sink's
// defaults: the worker's config leaves sink.postgres fields zero and the
// wiring passes them here.

// Defaults of Options.
const (
	DefaultSchema           = "public"
	DefaultTable            = "chorus_results"
	DefaultMaxConns         = 4
	DefaultStatementTimeout = 30 * time.Second
	// DefaultConnectTimeout bounds a connection attempt when the DSN sets
	// no connect_timeout, so that Write fails fast while the server is down.
	DefaultConnectTimeout = 5 * time.Second
)

// WithDefaults returns o with its zero fields defaulted, as Open uses it:
// for a caller that shows or passes on the names Open will use.
func (o Options) WithDefaults() Options {
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.StatementTimeout == 0 {
		o.StatementTimeout = DefaultStatementTimeout
	}
	return o
}
