package pgtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
)

// queryInt runs sql on a fresh connection to dsn and scans one integer.
func queryInt(t *testing.T, dsn, sql string) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, sql).Scan(&n)
	return n, err
}

func TestServer(t *testing.T) {
	srv := pgtest.Start(t)

	t.Run("accepts_connections", func(t *testing.T) {
		if n, err := queryInt(t, srv.DSN(), "SELECT 42"); err != nil || n != 42 {
			t.Fatalf("select = %d, %v", n, err)
		}
	})
	t.Run("data_survives_restart_on_same_port", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, srv.DSN())
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(ctx, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
		conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		port := srv.Port()

		srv.Stop(t)
		if _, err := queryInt(t, srv.DSN(), "SELECT 1"); err == nil {
			t.Fatal("query succeeded while the server was down")
		}
		srv.Start(t)

		if srv.Port() != port {
			t.Errorf("port %d after restart, want %d", srv.Port(), port)
		}
		if n, err := queryInt(t, srv.DSN(), "SELECT n FROM kept"); err != nil || n != 42 {
			t.Fatalf("select after restart = %d, %v", n, err)
		}
	})
	t.Run("create_database", func(t *testing.T) {
		dsn := srv.CreateDatabase(t, "other db")
		if n, err := queryInt(t, dsn, "SELECT CASE WHEN current_database() = 'other db' THEN 1 END"); err != nil || n != 1 {
			t.Fatalf("current database check = %d, %v", n, err)
		}
	})
}

func TestLaunchWithoutBinaries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := pgtest.Launch(ctx, pgtest.Config{BinDir: t.TempDir()})
	if !errors.Is(err, pgtest.ErrUnavailable) {
		t.Errorf("launch with an empty bin dir = %v, want ErrUnavailable", err)
	}
}
