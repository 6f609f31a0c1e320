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
	ReasonConstraint errkind.Reason = "constraint_violation"
	// ReasonDataException: the server rejected a value (SQLSTATE class 22).
	ReasonDataException errkind.Reason = "data_exception"
	// ReasonLimitExceeded: a value is over one of the server's own limits
	// (SQLSTATE 54000), such as a key too long for a btree index entry.
	ReasonLimitExceeded errkind.Reason = "limit_exceeded"
)

// Reasons of the errors of a whole call: the SQLSTATE table's, then those
// of failures with no SQLSTATE, then those of the sink's own checks.
const (
	ReasonSerialization  errkind.Reason = "serialization_failure"
	ReasonDeadlock       errkind.Reason = "deadlock"
	ReasonServerShutdown errkind.Reason = "server_shutdown"
	ReasonUnavailable    errkind.Reason = "server_unavailable"
	ReasonStmtTimeout    errkind.Reason = "statement_timeout"
	ReasonLockTimeout    errkind.Reason = "lock_timeout"
	ReasonReadOnly       errkind.Reason = "read_only"
	ReasonResources      errkind.Reason = "insufficient_resources"
	ReasonSchema         errkind.Reason = "schema"
	ReasonAuth           errkind.Reason = "auth"
	ReasonNoDatabase     errkind.Reason = "no_database"
	// ReasonConnection: the connection failed or was lost mid-call.
	ReasonConnection = sinks.ReasonConnection
	// ReasonConnect: no connection could be made (or its startup failed).
	ReasonConnect errkind.Reason = "connect"
	// ReasonPostgres: an error this table does not classify.
	ReasonPostgres errkind.Reason = "postgres_error"
	// ReasonBadName: a schema or table name is not a valid identifier.
	ReasonBadName errkind.Reason = "bad_name"
	// ReasonNoDSN: Options carry no DSN.
	ReasonNoDSN errkind.Reason = "no_dsn"
	// ReasonBadDSN: the DSN does not parse (its text is withheld).
	ReasonBadDSN errkind.Reason = "bad_dsn"
	// ReasonNotMigrated: the table is missing or behind the migrations.
	ReasonNotMigrated errkind.Reason = "not_migrated"
	// ReasonBadMigration: an embedded migration cannot be read or applied.
	ReasonBadMigration errkind.Reason = "bad_migration"
	// ReasonMigrationChanged: an applied migration's text has changed.
	ReasonMigrationChanged errkind.Reason = "migration_changed"
	// ReasonBadArgument: a caller passed a value out of range.
	ReasonBadArgument errkind.Reason = "bad_argument"
)

// sqlstate is one row of the SQLSTATE table: code is a full five-character
// SQLSTATE or a two-character class.
type sqlstate struct {
	code   string
	kind   errkind.Kind
	reason errkind.Reason
}

// sqlstates maps server errors to kinds; a full code wins over its class.
// Codes: https://www.postgresql.org/docs/current/errcodes-appendix.html.
// Rows of class 23 and 22, and 54000, are bad in themselves: Write reports them as row
// errors and commits the rest of the batch.
var sqlstates = []sqlstate{
	{"40001", errkind.Retryable, ReasonSerialization},
	{"40P01", errkind.Retryable, ReasonDeadlock},
	{"57P01", errkind.Retryable, ReasonServerShutdown}, // admin_shutdown
	{"57P02", errkind.Retryable, ReasonServerShutdown}, // crash_shutdown
	{"57P03", errkind.Retryable, ReasonUnavailable},    // cannot_connect_now: starting or shutting down
	{"57014", errkind.Retryable, ReasonStmtTimeout},    // query_canceled, by statement_timeout
	{"55P03", errkind.Retryable, ReasonLockTimeout},    // lock_not_available
	{"25006", errkind.Retryable, ReasonReadOnly},       // read_only_sql_transaction: a standby, mid-failover
	{"08", errkind.Retryable, ReasonConnection},
	{"53", errkind.Retryable, ReasonResources},
	// 54000 program_limit_exceeded: for an upsert of plain rows, a value
	// over a server limit ("index row size exceeds btree maximum"). It is
	// the row's fault, and would be retried forever as an unknown error.
	{"54000", errkind.InvalidInput, ReasonLimitExceeded},
	{"23", errkind.InvalidInput, ReasonConstraint},
	{"22", errkind.InvalidInput, ReasonDataException},
	{"42", errkind.Permanent, ReasonSchema}, // syntax error or access rule: missing table, no privilege
	{"28", errkind.Permanent, ReasonAuth},
	{"3D", errkind.Permanent, ReasonNoDatabase},
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
			return errkind.New(errkind.Canceled, errkind.ReasonCanceled, wrapped)
		}
		return errkind.New(errkind.Retryable, errkind.ReasonTimeout, wrapped)
	}
	kind, reason := kindOf(err)
	return errkind.New(kind, reason, wrapped)
}

// kindOf classifies an error from pgx.
func kindOf(err error) (errkind.Kind, errkind.Reason) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		s, ok := lookupSQLState(pe.Code)
		if !ok {
			return errkind.Unknown, ReasonPostgres
		}
		var ce *pgconn.ConnectError
		if s.kind == errkind.InvalidInput && errors.As(err, &ce) {
			// A data error while connecting (a bad startup parameter) is
			// not about any row.
			return errkind.Permanent, ReasonConnect
		}
		return s.kind, s.reason
	}
	switch {
	case errors.Is(err, context.Canceled):
		return errkind.Canceled, errkind.ReasonCanceled
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return errkind.Retryable, errkind.ReasonTimeout
	}
	var (
		ce *pgconn.ConnectError
		ne net.Error
	)
	switch {
	case errors.As(err, &ce):
		return errkind.Retryable, ReasonConnect
	case errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, pgconn.ErrConnClosed), pgconn.SafeToRetry(err):
		return errkind.Retryable, ReasonConnection
	}
	return errkind.Unknown, ReasonPostgres
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
