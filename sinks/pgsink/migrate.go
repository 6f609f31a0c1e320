package pgsink

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"slices"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/chorusml/chorus/worker/errkind"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationsTable is the table, in the results table's schema, that records
// which migrations ran for which results table.
const MigrationsTable = "chorus_migrations"

// migrationLock is the pg_advisory_xact_lock key that serialises every
// Migrate on a database ("chorusmg" in ASCII).
const migrationLock int64 = 0x63686f7275736d67

// maxIdentLen is Postgres's NAMEDATALEN-1: longer names are truncated.
const maxIdentLen = 63

// DB is what Migrate needs: a *pgxpool.Pool or a *pgx.Conn.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// migration is one embedded SQL file, migrations/NNNN_name.sql.
type migration struct {
	version, name, sql, checksum string
}

func (m migration) id() string { return m.version + "_" + m.name }

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migration, error) {
	files, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	out := make([]migration, 0, len(files))
	for _, f := range files {
		base := strings.TrimSuffix(path.Base(f), ".sql")
		version, name, ok := strings.Cut(base, "_")
		if !ok || version == "" || name == "" {
			return nil, fmt.Errorf("migration file %s is not named NNNN_name.sql", f)
		}
		b, err := migrationFiles.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, migration{version: version, name: name, sql: string(b), checksum: hex.EncodeToString(sum[:])})
	}
	return out, nil
}

// names are the quoted identifiers derived from a schema and table.
type names struct {
	schema, table string // as given, unquoted
	// Table, View and Migrations are schema-qualified and quoted.
	Table, View, Migrations string
}

func newNames(schema, table string) (names, error) {
	for _, id := range []struct{ what, v string }{{"schema", schema}, {"table", table}} {
		switch {
		case id.v == "":
			return names{}, fmt.Errorf("empty %s name", id.what)
		case len(id.v) > maxIdentLen:
			return names{}, fmt.Errorf("%s name %q is longer than %d bytes", id.what, id.v, maxIdentLen)
		case !utf8.ValidString(id.v) || strings.ContainsRune(id.v, 0):
			return names{}, fmt.Errorf("%s name %q is not valid UTF-8 text", id.what, id.v)
		}
	}
	return names{
		schema:     schema,
		table:      table,
		Table:      pgx.Identifier{schema, table}.Sanitize(),
		View:       pgx.Identifier{schema, LatestView(table)}.Sanitize(),
		Migrations: pgx.Identifier{schema, MigrationsTable}.Sanitize(),
	}, nil
}

// derivedName returns table_suffix, or, when that would pass Postgres's
// 63-byte limit (which would silently truncate it and could make two
// tables' names collide), a prefix of table, a hash of the whole table name
// and the suffix.
func derivedName(table, suffix string) string {
	name := table + "_" + suffix
	if len(name) <= maxIdentLen {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(table))
	tail := fmt.Sprintf("_%08x_%s", h.Sum32(), suffix)
	cut := max(0, maxIdentLen-len(tail))
	for cut > 0 && !utf8.RuneStart(table[cut]) {
		cut--
	}
	return table[:cut] + tail
}

// LatestView is the name of the view (in the table's schema) that shows
// the newest row per (tenant, response_id) by scored_at.
func LatestView(table string) string { return derivedName(table, "latest") }

// render fills in a migration's template with quoted identifiers.
func (n names) render(m migration) (string, error) {
	t, err := template.New(m.id()).Option("missingkey=error").Funcs(template.FuncMap{
		"name": func(suffix string) string { return pgx.Identifier{derivedName(n.table, suffix)}.Sanitize() },
	}).Parse(m.sql)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, n); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Migrate brings schema.table up to the newest embedded migration in one
// transaction and returns the migrations it applied (e.g.
// "0001_create_results"); none when it was up to date. It creates the
// schema and the chorus_migrations table if they are missing. Concurrent
// Migrates on one database are serialised with pg_advisory_xact_lock, so
// several workers may run it at start-up. One schema may hold several
// results tables; chorus_migrations records each by name. A migration whose
// embedded text changed after it was applied is an error, not re-run.
func Migrate(ctx context.Context, db DB, schema, table string) (applied []string, err error) {
	n, err := newNames(schema, table)
	if err != nil {
		return nil, errkind.New(errkind.Permanent, ReasonBadName, fmt.Errorf("pgsink: migrate: %w", err))
	}
	ms, err := loadMigrations()
	if err != nil {
		return nil, errkind.New(errkind.Permanent, ReasonBadMigration, fmt.Errorf("pgsink: migrate: %w", err))
	}
	fail := func(what string, err error) ([]string, error) {
		return nil, classify(ctx, fmt.Sprintf("migrate %s.%s: %s", schema, table, what), err)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return fail("begin", err)
	}
	defer rollback(tx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
		return fail("lock", err)
	}
	// Create only what is missing: CREATE … IF NOT EXISTS still needs the
	// CREATE privilege when the object exists.
	var haveSchema, haveLog bool
	if err := tx.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), to_regclass($2) IS NOT NULL",
		schema, n.Migrations).Scan(&haveSchema, &haveLog); err != nil {
		return fail("inspect", err)
	}
	if !haveSchema {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fail("create schema", err)
		}
	}
	if !haveLog {
		if _, err := tx.Exec(ctx, `CREATE TABLE `+n.Migrations+` (
			table_name text NOT NULL,
			version    text NOT NULL,
			name       text NOT NULL,
			checksum   text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (table_name, version))`); err != nil {
			return fail("create "+MigrationsTable, err)
		}
	}
	done, err := appliedMigrations(ctx, tx, n)
	if err != nil {
		return fail("read "+MigrationsTable, err)
	}
	for _, m := range ms {
		if sum, ok := done[m.version]; ok {
			if sum != m.checksum {
				return nil, errkind.New(errkind.Permanent, ReasonMigrationChanged,
					fmt.Errorf("pgsink: migrate %s.%s: migration %s changed after it was applied", schema, table, m.id()))
			}
			continue
		}
		sql, err := n.render(m)
		if err != nil {
			return nil, errkind.New(errkind.Permanent, ReasonBadMigration, fmt.Errorf("pgsink: migrate: %s: %w", m.id(), err))
		}
		// No arguments: pgx sends it with the simple protocol, which runs
		// several statements.
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fail(m.id(), err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+n.Migrations+" (table_name, version, name, checksum) VALUES ($1, $2, $3, $4)",
			table, m.version, m.name, m.checksum); err != nil {
			return fail("record "+m.id(), err)
		}
		applied = append(applied, m.id())
	}
	if err := tx.Commit(ctx); err != nil {
		return fail("commit", err)
	}
	return applied, nil
}

// MigrateDSN is Migrate on a connection of its own to dsn (which never
// appears in its errors).
func MigrateDSN(ctx context.Context, dsn, schema, table string) ([]string, error) {
	cfg, err := parseConnConfig(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, classify(ctx, "migrate: connect", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return Migrate(ctx, conn, schema, table)
}

// appliedMigrations returns version → checksum for the table. The
// migrations table may be absent (nothing applied yet).
func appliedMigrations(ctx context.Context, q pgx.Tx, n names) (map[string]string, error) {
	rows, err := q.Query(ctx, "SELECT version, checksum FROM "+n.Migrations+" WHERE table_name = $1", n.table)
	if err != nil {
		return nil, err
	}
	done := make(map[string]string)
	var version, sum string
	_, err = pgx.ForEachRow(rows, []any{&version, &sum}, func() error {
		done[version] = sum
		return nil
	})
	return done, err
}

// pendingMigrations returns the ids of the embedded migrations not yet
// applied to the table, all of them when it has no migrations table.
func pendingMigrations(ctx context.Context, db DB, n names) ([]string, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer rollback(tx)
	var haveLog bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", n.Migrations).Scan(&haveLog); err != nil {
		return nil, err
	}
	done := map[string]string{}
	if haveLog {
		if done, err = appliedMigrations(ctx, tx, n); err != nil {
			return nil, err
		}
	}
	var pending []string
	for _, m := range ms {
		if _, ok := done[m.version]; !ok {
			pending = append(pending, m.id())
		}
	}
	return pending, nil
}

// rollback ends tx if Commit did not; after a commit it is a no-op. It
// gets a bounded context of its own so that a cancelled Write still ends
// its transaction cleanly (pgx closes the connection when that fails).
func rollback(tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	_ = tx.Rollback(ctx)
}
