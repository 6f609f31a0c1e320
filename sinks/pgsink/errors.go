package pgsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/errkind"
)

// Reasons of the row errors Write returns.
const (
	// ReasonInvalidRow: Write rejected the row before sending it (a check
	// the table's constraints also make, or a value Postgres cannot store).
	ReasonInvalidRow = sinks.ReasonInvalidRow
	// ReasonConstraint: the server rejected the row (SQLSTATE class 23).
	ReasonConstraint = "constraint_violation"
	// ReasonDataException: the server rejected a value (SQLSTATE class 22).
	ReasonDataException = "data_exception"
	// ReasonLimitExceeded: a value is over one of the server's own limits
	// (SQLSTATE 54000), such as a key too long for a btree index entry.
	ReasonLimitExceeded = "limit_exceeded"
)

// sqlstate is one row of the SQLSTATE table: code is a full five-character
// SQLSTATE or a two-character class.
type sqlstate struct {
	code   string
	kind   errkind.Kind
	reason string
}

// sqlstates maps server errors to kinds; a full code wins over its class.
// Codes: https://www.postgresql.org/docs/current/errcodes-appendix.html.
// Rows of class 23 and 22, and 54000, are bad in themselves: Write reports them as row
// errors and commits the rest of the batch.
var sqlstates = []sqlstate{
	{"40001", errkind.Retryable, "serialization_failure"},
	{"40P01", errkind.Retryable, "deadlock"},
	{"57P01", errkind.Retryable, "server_shutdown"},    // admin_shutdown
	{"57P02", errkind.Retryable, "server_shutdown"},    // crash_shutdown
	{"57P03", errkind.Retryable, "server_unavailable"}, // cannot_connect_now: starting or shutting down
	{"57014", errkind.Retryable, "statement_timeout"},  // query_canceled, by statement_timeout
	{"55P03", errkind.Retryable, "lock_timeout"},       // lock_not_available
	{"25006", errkind.Retryable, "read_only"},          // read_only_sql_transaction: a standby, mid-failover
	{"08", errkind.Retryable, "connection"},
	{"53", errkind.Retryable, "insufficient_resources"},
	// 54000 program_limit_exceeded: for an upsert of plain rows, a value
	// over a server limit ("index row size exceeds btree maximum"). It is
	// the row's fault, and would be retried forever as an unknown error.
	{"54000", errkind.InvalidInput, ReasonLimitExceeded},
	{"23", errkind.InvalidInput, ReasonConstraint},
	{"22", errkind.InvalidInput, ReasonDataException},
	{"42", errkind.Permanent, "schema"}, // syntax error or access rule: missing table, no privilege
	{"28", errkind.Permanent, "auth"},
	{"3D", errkind.Permanent, "no_database"},
}

// lookupSQLState returns the table row for code, if any.
func lookupSQLState(code string) (sqlstate, bool) {
	for _, s := range sqlstates {
		if s.code == code {
			return s, true
		}
	}
	if len(code) == 5 {
		for _, s := range sqlstates {
			if len(s.code) == 2 && s.code == code[:2] {
				return s, true
			}
		}
	}
	return sqlstate{}, false
}

// classify wraps err from operation op with its errkind. A done ctx wins:
// the caller gave up, whatever the server said about it.
func classify(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	wrapped := fmt.Errorf("pgsink: %s: %w", op, err)
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.Canceled) {
			return errkind.New(errkind.Canceled, "canceled", wrapped)
		}
		return errkind.New(errkind.Retryable, "timeout", wrapped)
	}
	kind, reason := kindOf(err)
	return errkind.New(kind, reason, wrapped)
}

// kindOf classifies an error from pgx.
func kindOf(err error) (errkind.Kind, string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		s, ok := lookupSQLState(pe.Code)
		if !ok {
			return errkind.Unknown, "postgres_error"
		}
		var ce *pgconn.ConnectError
		if s.kind == errkind.InvalidInput && errors.As(err, &ce) {
			// A data error while connecting (a bad startup parameter) is
			// not about any row.
			return errkind.Permanent, "connect"
		}
		return s.kind, s.reason
	}
	switch {
	case errors.Is(err, context.Canceled):
		return errkind.Canceled, "canceled"
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return errkind.Retryable, "timeout"
	}
	var (
		ce *pgconn.ConnectError
		ne net.Error
	)
	switch {
	case errors.As(err, &ce):
		return errkind.Retryable, "connect"
	case errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, pgconn.ErrConnClosed), pgconn.SafeToRetry(err):
		return errkind.Retryable, "connection"
	}
	return errkind.Unknown, "postgres_error"
}

// rowLevel reports whether err is about the values of a row (SQLSTATE
// class 23 or 22), so that the rest of its batch can still be written.
func rowLevel(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return false
	}
	s, ok := lookupSQLState(pe.Code)
	return ok && s.kind == errkind.InvalidInput
}

// rowError is the error of one row the server rejected.
func rowError(err error) error {
	_, reason := kindOf(err)
	return errkind.New(errkind.InvalidInput, reason, fmt.Errorf("pgsink: %w", err))
}
