package pgsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chorusml/chorus/worker/errkind"
)

func TestClassify(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "m"} }
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		err    error
		kind   errkind.Kind
		reason errkind.Reason
		row    bool
	}{
		{"serialization", nil, pg("40001"), errkind.Retryable, ReasonSerialization, false},
		{"deadlock", nil, pg("40P01"), errkind.Retryable, ReasonDeadlock, false},
		{"admin_shutdown", nil, pg("57P01"), errkind.Retryable, ReasonServerShutdown, false},
		{"crash_shutdown", nil, pg("57P02"), errkind.Retryable, ReasonServerShutdown, false},
		{"cannot_connect_now", nil, pg("57P03"), errkind.Retryable, ReasonUnavailable, false},
		{"statement_timeout", nil, pg("57014"), errkind.Retryable, ReasonStmtTimeout, false},
		{"connection_class", nil, pg("08006"), errkind.Retryable, ReasonConnection, false},
		{"too_many_connections", nil, pg("53300"), errkind.Retryable, ReasonResources, false},
		{"disk_full", nil, pg("53100"), errkind.Retryable, ReasonResources, false},
		{"read_only_standby", nil, pg("25006"), errkind.Retryable, ReasonReadOnly, false},
		{"check_violation", nil, pg("23514"), errkind.InvalidInput, ReasonConstraint, true},
		{"not_null_violation", nil, pg("23502"), errkind.InvalidInput, ReasonConstraint, true},
		{"untranslatable_character", nil, pg("22P05"), errkind.InvalidInput, ReasonDataException, true},
		{"numeric_out_of_range", nil, pg("22003"), errkind.InvalidInput, ReasonDataException, true},
		{"index_row_too_large", nil, pg("54000"), errkind.InvalidInput, ReasonLimitExceeded, true},
		{"undefined_table", nil, pg("42P01"), errkind.Permanent, ReasonSchema, false},
		{"insufficient_privilege", nil, pg("42501"), errkind.Permanent, ReasonSchema, false},
		{"bad_password", nil, pg("28P01"), errkind.Permanent, ReasonAuth, false},
		{"no_database", nil, pg("3D000"), errkind.Permanent, ReasonNoDatabase, false},
		{"unlisted_code", nil, pg("XX000"), errkind.Unknown, ReasonPostgres, false},
		{"wrapped_pg_error", nil, fmt.Errorf("exec: %w", pg("40001")), errkind.Retryable, ReasonSerialization, false},
		{"refused", nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, errkind.Retryable, ReasonConnection, false},
		{"reset", nil, fmt.Errorf("read: %w", syscall.ECONNRESET), errkind.Retryable, ReasonConnection, false},
		{"eof", nil, io.ErrUnexpectedEOF, errkind.Retryable, ReasonConnection, false},
		{"conn_closed", nil, fmt.Errorf("x: %w", pgconn.ErrConnClosed), errkind.Retryable, ReasonConnection, false},
		{"deadline", nil, context.DeadlineExceeded, errkind.Retryable, errkind.ReasonTimeout, false},
		{"caller_cancelled", cancelled, pg("57014"), errkind.Canceled, errkind.ReasonCanceled, false},
		{"other", nil, errors.New("something"), errkind.Unknown, ReasonPostgres, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			err := classify(ctx, "op", tc.err)
			if k, r := errkind.KindOf(err), errkind.ReasonOf(err); k != tc.kind || r != tc.reason {
				t.Errorf("classify(%v) = kind %v reason %s, want %v %s", tc.err, k, r, tc.kind, tc.reason)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("classify(%v) does not wrap it", tc.err)
			}
			if got := rowLevel(tc.err); got != tc.row {
				t.Errorf("rowLevel(%v) = %v, want %v", tc.err, got, tc.row)
			}
		})
	}
	if classify(context.Background(), "op", nil) != nil {
		t.Error("classify(nil) != nil")
	}
}
