package pgsink_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
)

// tableSeq numbers the tables tests create on a shared server.
var tableSeq atomic.Int64

// testCtx is a short context for one step of a test.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newTable migrates a fresh results table in schema and returns its name.
func newTable(t testing.TB, srv *pgtest.Server, schema string) string {
	t.Helper()
	table := fmt.Sprintf("results_%d", tableSeq.Add(1))
	if _, err := pgsink.MigrateDSN(testCtx(t), srv.DSN(), schema, table); err != nil {
		t.Fatalf("migrate %s.%s: %v", schema, table, err)
	}
	return table
}

// open opens a sink that is closed when t ends.
func open(t testing.TB, opts pgsink.Options) *pgsink.Sink {
	t.Helper()
	s, err := pgsink.Open(testCtx(t), opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

// connect opens a connection that is closed when t ends.
func connect(t testing.TB, srv *pgtest.Server) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(testCtx(t), srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// qualified is schema.table, quoted.
func qualified(schema, table string) string { return pgx.Identifier{schema, table}.Sanitize() }

// exec runs sql on a fresh connection, failing t on error.
func exec(t testing.TB, srv *pgtest.Server, sql string, args ...any) {
	t.Helper()
	if _, err := connect(t, srv).Exec(testCtx(t), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
