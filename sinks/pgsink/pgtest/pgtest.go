// Package pgtest runs a throwaway Postgres server for tests: initdb in a
// temporary directory, pg_ctl start on a free loopback port (and a unix
// socket directory inside the temporary directory), one database, and
// everything stopped and removed when the test ends.
//
// The server binaries come from PATH or from Debian's postgresql package
// (/usr/lib/postgresql/*/bin, the newest version). Postgres refuses to run
// as root, so when the test runs as root, initdb, pg_ctl and the server run
// as the "postgres" OS user that package creates, and the temporary
// directory belongs to it. Missing binaries or a missing user skip the test
// (fail it under CI=true, see testenv.Missing).
//
// Launch and the Server's Up, Down and Close do the same without a
// testing.TB, for callers outside tests (a benchmark command, an end-to-end
// harness); Start, Stop and Restart are their test forms.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chorusml/chorus/worker/testenv"
)

// BinGlob is where Debian's postgresql package puts the server binaries.
const BinGlob = "/usr/lib/postgresql/*/bin"

// ErrUnavailable wraps the error of Launch when the server binaries or the
// OS user to run them as are missing: the machine cannot run Postgres.
var ErrUnavailable = errors.New("postgres unavailable")

// Config configures Launch. The zero value is a usable default.
type Config struct {
	// BinDir holds initdb, pg_ctl and postgres; default: the directory of
	// initdb on PATH, else the newest of BinGlob.
	BinDir string
	// Port is the TCP port on 127.0.0.1; default: a free one.
	Port int
	// Database is created after start; default "chorus".
	Database string
	// Settings are extra postgresql.conf settings (name → value, quoted
	// for you), e.g. {"fsync": "off"}.
	Settings map[string]string
	// StartTimeout bounds each server start and stop; default 60s.
	StartTimeout time.Duration
}

// Server is a running (or stopped) throwaway Postgres server. Its data
// directory and port stay the same across Down and Up, so a test can take
// it down mid-run and bring it back with its data.
type Server struct {
	bin     string
	dir     string // temporary directory holding everything
	data    string
	sock    string
	logPath string
	port    int
	db      string
	timeout time.Duration
	runAs   *osUser // nil: run as ourselves

	mu      sync.Mutex
	running bool
}

// osUser is the OS user the server runs as when we are root.
type osUser struct {
	name     string
	uid, gid uint32
}

// Superuser is the database superuser's name (trust authentication on
// 127.0.0.1 and the socket only: this is a test server).
const Superuser = "postgres"

// Launch creates and starts a server. Its error wraps ErrUnavailable when
// the machine lacks what it needs.
func Launch(ctx context.Context, cfg Config) (s *Server, err error) {
	if cfg.Database == "" {
		cfg.Database = "chorus"
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	bin, err := findBinDir(cfg.BinDir)
	if err != nil {
		return nil, err
	}
	var runAs *osUser
	if os.Geteuid() == 0 {
		if runAs, err = lookupUser("postgres"); err != nil {
			return nil, fmt.Errorf("pgtest: running as root, and Postgres refuses root: %w: %w", ErrUnavailable, err)
		}
	}
	port := cfg.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	dir, err := makeTempDir(runAs)
	if err != nil {
		return nil, err
	}
	s = &Server{
		bin: bin, dir: dir,
		data: filepath.Join(dir, "data"), sock: filepath.Join(dir, "sock"), logPath: filepath.Join(dir, "postgres.log"),
		port: port, db: cfg.Database, timeout: cfg.StartTimeout, runAs: runAs,
	}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if err := s.mkdir(s.sock); err != nil {
		return nil, err
	}
	if out, err := s.command(ctx, "initdb", "-D", s.data, "-U", Superuser, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	settings := map[string]string{
		"port":                    strconv.Itoa(port),
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": s.sock,
		"max_connections":         "200",
		"logging_collector":       "off",
	}
	for k, v := range cfg.Settings {
		settings[k] = v
	}
	if err := s.appendConf(settings); err != nil {
		return nil, err
	}
	if err := s.Up(ctx); err != nil {
		return nil, err
	}
	if err := s.createDatabase(ctx, s.db); err != nil {
		return nil, err
	}
	return s, nil
}

// Start launches a server for t and stops and removes it when t ends. It
// skips t (fails it under CI=true) when the machine cannot run Postgres.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartConfig(t, Config{})
}

// StartConfig is Start with a Config.
func StartConfig(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.BinDir == "" {
		cfg.BinDir = filepath.Dir(testenv.LookPath(t, "initdb", BinGlob))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Launch(ctx, cfg)
	if errors.Is(err, ErrUnavailable) {
		testenv.Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return s
}

// DSN is a connection URL for the server's database as the superuser.
func (s *Server) DSN() string { return s.DSNFor(s.db) }

// DSNFor is a connection URL for another database on the server.
func (s *Server) DSNFor(database string) string {
	u := url.URL{Scheme: "postgres", User: url.User(Superuser), Host: s.Addr(), Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Dir is the temporary directory: data/, sock/ and postgres.log.
func (s *Server) Dir() string { return s.dir }

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// Up starts the server (again) on the same port and data directory, and
// returns once it accepts connections.
func (s *Server) Up(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return nil
	}
	secs := strconv.Itoa(int(s.timeout.Seconds()))
	if out, err := s.command(ctx, "pg_ctl", "-D", s.data, "-l", s.logPath, "-w", "-t", secs, "start").CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, tail(s.Log(), 4000))
	}
	s.running = true
	return nil
}

// Down stops the server with pg_ctl's fast mode: sessions are ended (they
// see SQLSTATE 57P01), a checkpoint is written, the port is closed.
func (s *Server) Down(ctx context.Context) error {
	return s.stop(ctx, "fast")
}

func (s *Server) stop(ctx context.Context, mode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	secs := strconv.Itoa(int(s.timeout.Seconds()))
	if out, err := s.command(ctx, "pg_ctl", "-D", s.data, "-m", mode, "-w", "-t", secs, "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out)
	}
	s.running = false
	return nil
}

// Close stops the server (immediate mode: nothing to keep) and removes its
// directory.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	err := s.stop(ctx, "immediate")
	if rerr := os.RemoveAll(s.dir); rerr != nil && err == nil {
		err = fmt.Errorf("pgtest: %w", rerr)
	}
	return err
}

// Stop takes the server down (see Down), failing t on error.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if err := s.Down(ctx); err != nil {
		t.Fatal(err)
	}
}

// Start brings a stopped server back (see Up), failing t on error.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if err := s.Up(ctx); err != nil {
		t.Fatal(err)
	}
}

// Restart is Stop then Start.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
}

// CreateDatabase creates a database on the server and returns its DSN.
func (s *Server) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.createDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	return s.DSNFor(name)
}

func (s *Server) createDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, s.DSNFor("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w\n%s", err, tail(s.Log(), 4000))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return nil
}

// command runs a server binary, as the postgres OS user when we are root.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	// pg_ctl leaves the server running in the background; its output goes
	// to the log file, but never let a pipe it inherited block Wait.
	cmd.WaitDelay = 5 * time.Second
	if s.runAs != nil {
		runAs(cmd, s.runAs)
	}
	return cmd
}

// mkdir makes a directory the server's user owns.
func (s *Server) mkdir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return s.chown(dir)
}

func (s *Server) chown(path string) error {
	if s.runAs == nil {
		return nil
	}
	if err := os.Chown(path, int(s.runAs.uid), int(s.runAs.gid)); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// appendConf adds settings to postgresql.conf, where a restart finds them.
func (s *Server) appendConf(settings map[string]string) error {
	var b bytes.Buffer
	b.WriteString("\n# pgtest\n")
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = '%s'\n", k, strings.ReplaceAll(settings[k], "'", "''"))
	}
	f, err := os.OpenFile(filepath.Join(s.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("pgtest: %w", err)
	}
	return f.Close()
}

// findBinDir returns the directory holding initdb, pg_ctl and postgres.
func findBinDir(dir string) (string, error) {
	if dir == "" {
		if p, err := exec.LookPath("initdb"); err == nil {
			dir = filepath.Dir(p)
		} else {
			matches, _ := filepath.Glob(filepath.Join(BinGlob, "initdb"))
			if len(matches) == 0 {
				return "", fmt.Errorf("pgtest: %w: initdb not on PATH nor in %s (install Debian's postgresql)", ErrUnavailable, BinGlob)
			}
			slices.SortFunc(matches, func(a, b string) int { return versionOf(a) - versionOf(b) })
			dir = filepath.Dir(matches[len(matches)-1])
		}
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("pgtest: %w: no executable %s in %s", ErrUnavailable, name, dir)
		}
	}
	return dir, nil
}

// versionOf returns N of /usr/lib/postgresql/N/bin/initdb, or 0.
func versionOf(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

func lookupUser(name string) (*osUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &osUser{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
}

// makeTempDir makes the server's directory. When the server runs as
// another user, the directory belongs to that user and lies under a
// directory it can reach (the default one, or /tmp if a parent of that is
// closed to others).
func makeTempDir(runAs *osUser) (string, error) {
	root := os.TempDir()
	if runAs != nil && !reachable(root) {
		root = "/tmp"
	}
	dir, err := os.MkdirTemp(root, "pgtest-")
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	if runAs != nil {
		if err := os.Chown(dir, int(runAs.uid), int(runAs.gid)); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("pgtest: %w", err)
		}
	}
	// The socket path must fit in sun_path (107 bytes).
	if len(filepath.Join(dir, "sock", ".s.PGSQL.65535")) > 107 {
		os.RemoveAll(dir)
		return "", fmt.Errorf("pgtest: temporary directory %s is too long for a unix socket path", dir)
	}
	return dir, nil
}

// reachable reports whether every directory from / to dir lets others
// search it.
func reachable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		st, err := os.Stat(dir)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the end of s, at most n bytes.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
