package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chaosrun/chaosrun/internal/place"
	"github.com/chaosrun/chaosrun/internal/proc"
	"github.com/chaosrun/chaosrun/internal/wait"
)

// Errors of Start.
var (
	// ErrNotInstalled reports that no PostgreSQL binaries were found.
	ErrNotInstalled = errors.New("pg: PostgreSQL binaries not found (run `make deps`)")
	// ErrExited reports that the server exited before it was ready.
	ErrExited = errors.New("pg: postgres exited")
)

// The role and database Start creates for Debezium and the workloads.
const (
	User     = "dbz"
	Password = "dbz"
	Database = "app"
)

// stopTimeout bounds Close's wait for a fast shutdown before it kills.
const stopTimeout = 10 * time.Second

// pollInterval is the pause between readiness probes.
const pollInterval = 50 * time.Millisecond

// Config configures a server. Zero values take the defaults noted.
type Config struct {
	// Dir holds the cluster (Dir/data), its sockets (Dir/sock) and the
	// server's log (Dir/postgres.log). Required. Start makes it user
	// postgres's, mode 0700; its parents must be searchable by others.
	Dir string
	// Host is the address the server listens on; default 127.0.0.1. Under a
	// netns placement it is the namespace's address.
	Host string
	// Port is the TCP port; 0 picks a free one on Host (only where the
	// harness can bind Host, i.e. not a namespace's address).
	Port int
	// Command builds the command that runs the server, e.g. a namespace's
	// `ip netns exec`; nil runs it directly. It must use
	// exec.CommandContext with ctx.
	Command func(ctx context.Context, path string, args ...string) *exec.Cmd
	// Logger receives the server's lifecycle logs; default slog.Default().
	Logger *slog.Logger
}

// Server is a running PostgreSQL.
type Server struct {
	cfg    Config
	proc   *proc.Proc
	cancel context.CancelFunc
	log    *slog.Logger
}

// Start initializes Dir/data unless it holds a cluster already, starts
// postgres with proc.Start and waits, polling until ctx ends, until it
// accepts connections; then it makes sure role dbz and database app exist.
// ctx bounds the start only: the server runs until Close. On error nothing
// is left running.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("pg: Config.Dir is required")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Port == 0 {
		p, err := place.FreePort(cfg.Host)
		if err != nil {
			return nil, err
		}
		cfg.Port = p
	}
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pg: user postgres (created by the postgresql package; run `make deps`): %w", err)
	}
	t0 := time.Now()
	if err := initCluster(ctx, cfg, bin, pgUser); err != nil {
		return nil, err
	}
	initTook := time.Since(t0)

	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{cfg: cfg, cancel: cancel, log: cfg.Logger.With("component", "postgres", "addr", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))}
	// NB: the server dies at once (SIGKILL) when life ends; Close asks
	// for a fast shutdown first.
	s.proc, err = proc.Start(life, proc.Spec{
		Name: "postgres", Path: "setpriv", Args: append(asPostgres(), filepath.Join(bin, "postgres"), "-D", s.dataDir()),
		Command: cfg.Command, Log: filepath.Join(cfg.Dir, "postgres.log"),
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("pg: %w", err)
	}
	if err := s.waitReady(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	if err := s.bootstrap(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	s.log.Info("postgres ready", "pid", s.Pid(), "initdb", initTook.Round(time.Millisecond),
		"took", time.Since(t0).Round(time.Millisecond), "dir", cfg.Dir)
	return s, nil
}

// asPostgres is setpriv's arguments that run the next program as user
// postgres with its groups.
func asPostgres() []string {
	return []string{"--reuid=postgres", "--regid=postgres", "--init-groups"}
}

func (s *Server) dataDir() string { return filepath.Join(s.cfg.Dir, "data") }
func (s *Server) sockDir() string { return filepath.Join(s.cfg.Dir, "sock") }

// Pid returns the postmaster's pid (under a netns placement, that of
// `ip netns exec`, which execs postgres in place: the same process).
func (s *Server) Pid() int { return s.proc.Pid() }

// Proc returns the server's process, for faults that signal it and for
// watching its exit.
func (s *Server) Proc() *proc.Proc { return s.proc }

// Addr returns host:port of the server's TCP listener.
func (s *Server) Addr() string { return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)) }

// Host returns the address the server listens on.
func (s *Server) Host() string { return s.cfg.Host }

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.cfg.Port }

// DSN returns a connection URL for user dbz to database db over TCP.
func (s *Server) DSN(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(User, Password), Host: s.Addr(), Path: "/" + db,
		RawQuery: "sslmode=disable"}
	return u.String()
}

// adminDSN is the superuser's connection over the Unix socket, which the
// harness reaches from any network namespace.
func (s *Server) adminDSN(db string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable connect_timeout=2", s.sockDir(), s.cfg.Port, db)
}

// waitReady polls the server until it accepts a connection, it exits, or
// ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	for {
		conn, err := pgx.Connect(ctx, s.adminDSN("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		if s.proc.Exited() {
			return fmt.Errorf("%w (%v); last lines of %s:\n%s", ErrExited, s.proc.Err(), s.proc.LogPath(), proc.Tail(s.proc.LogPath(), 20))
		}
		if werr := wait.Sleep(ctx, pollInterval); werr != nil {
			return fmt.Errorf("pg: not ready: %w (last: %w); last lines of %s:\n%s", werr, err, s.proc.LogPath(), proc.Tail(s.proc.LogPath(), 20))
		}
	}
}

// bootstrap creates role dbz and database app unless they exist (a
// restarted cluster has them).
func (s *Server) bootstrap(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.adminDSN("postgres"))
	if err != nil {
		return fmt.Errorf("pg: connect as postgres: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = $1", User).Scan(&n); err != nil {
		return fmt.Errorf("pg: look up role %s: %w", User, err)
	}
	if n == 0 {
		// Debezium needs REPLICATION for its slot; LOGIN for both clients.
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN REPLICATION PASSWORD '%s'", User, Password)); err != nil {
			return fmt.Errorf("pg: create role %s: %w", User, err)
		}
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", Database).Scan(&n); err != nil {
		return fmt.Errorf("pg: look up database %s: %w", Database, err)
	}
	if n == 0 {
		// NB: owned by dbz, so the connector may CREATE PUBLICATION on the
		// tables dbz creates (publication.autocreate.mode=filtered).
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", Database, User)); err != nil {
			return fmt.Errorf("pg: create database %s: %w", Database, err)
		}
	}
	return nil
}

// Close asks the server for a fast shutdown (SIGINT: roll back open
// transactions, close connections, checkpoint), kills its process group
// if it is not gone within 10 s, and waits. It removes nothing. Idempotent.
func (s *Server) Close() error {
	defer s.cancel()
	if s.proc.Exited() {
		return nil
	}
	// NB: SIGTERM (proc.Stop) is PostgreSQL's *smart* shutdown, which
	// waits for every client, Debezium's walsender included, to leave.
	_ = s.proc.Signal(syscall.SIGINT)
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := s.proc.Wait(ctx); err != nil && !s.proc.Exited() {
		if kerr := s.proc.Kill(); kerr != nil {
			return fmt.Errorf("pg: close: %w", kerr)
		}
	}
	s.log.Info("postgres stopped", "pid", s.Pid())
	return nil
}

// initCluster runs initdb into Dir/data unless it holds a cluster, and
// (re)writes the server settings chaosrun.conf that postgresql.conf
// includes.
func initCluster(ctx context.Context, cfg Config, bin string, pgUser *user.User) error {
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	data := filepath.Join(cfg.Dir, "data")
	sock := filepath.Join(cfg.Dir, "sock")
	if err := checkSearchable(filepath.Dir(cfg.Dir)); err != nil {
		return err
	}
	for _, d := range []string{cfg.Dir, sock} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("pg: %w", err)
		}
		// initdb wants a directory it owns, mode 0700.
		if err := os.Chown(d, uid, gid); err != nil {
			return fmt.Errorf("pg: chown %s to postgres: %w", d, err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("pg: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		logPath := filepath.Join(cfg.Dir, "initdb.log")
		// initdb needs no network, so it runs here and not through Command.
		p, err := proc.Start(ctx, proc.Spec{Name: "initdb", Path: "setpriv", Args: append(asPostgres(),
			filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth-local=trust",
			"--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"), Log: logPath})
		if err != nil {
			return fmt.Errorf("pg: %w", err)
		}
		if err := p.Wait(ctx); err != nil {
			return fmt.Errorf("pg: initdb: %w; last lines of %s:\n%s", errors.Join(err, p.Kill()), logPath, proc.Tail(logPath, 20))
		}
		if err := appendFile(filepath.Join(data, "postgresql.conf"), "\ninclude 'chaosrun.conf'\n"); err != nil {
			return err
		}
		// Debezium's clients come from other namespaces' addresses under a
		// netns placement; the defaults admit loopback only.
		if err := appendFile(filepath.Join(data, "pg_hba.conf"),
			"\nhost all all 0.0.0.0/0 scram-sha-256\nhost replication all 0.0.0.0/0 scram-sha-256\n"); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("pg: %w", err)
	}
	conf := filepath.Join(data, "chaosrun.conf")
	if err := os.WriteFile(conf, []byte(settings(cfg.Host, cfg.Port, sock)), 0o600); err != nil {
		return fmt.Errorf("pg: %w", err)
	}
	if err := os.Chown(conf, uid, gid); err != nil {
		return fmt.Errorf("pg: %w", err)
	}
	return nil
}

// settings is chaosrun.conf, the server settings of this harness.
func settings(host string, port int, sock string) string {
	return fmt.Sprintf(`# Written by chaosrun (target/debezium/pg) at every start.
listen_addresses = '%s'
port = %d
unix_socket_directories = '%s'   # off /var/run/postgresql, which other clusters use
wal_level = logical              # Debezium's pgoutput decoding
max_wal_senders = 10
max_replication_slots = 10
# A stopped or partitioned walsender holds the slot until this passes, so
# it bounds how soon a moved Debezium task can stream again (default 60s).
wal_sender_timeout = '10s'
track_commit_timestamp = on      # pgstore reads each commit's timestamp
# Speed over durability: a test cluster, rebuilt per run. A kill of
# postgres (not of the machine) loses nothing with fsync off.
fsync = off
synchronous_commit = on
full_page_writes = off
`, host, port, sock)
}

// checkSearchable reports the first of dir and its parents that others
// may not search (x): user postgres could not reach its data below it.
func checkSearchable(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("pg: %w", err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err == nil && st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pg: user postgres cannot reach the data dir: %s has mode %v (want o+x)", d, st.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pg: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		_ = f.Close()
		return fmt.Errorf("pg: append to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pg: %w", err)
	}
	return nil
}

// binDir finds the PostgreSQL server binaries: pg_config's bindir, else
// the newest /usr/lib/postgresql/*/bin.
func binDir() (string, error) {
	var cands []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		cands = append(cands, strings.TrimSpace(string(out)))
	}
	globbed, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(globbed, func(a, b string) int { return versionOf(b) - versionOf(a) })
	cands = append(cands, globbed...)
	for _, d := range cands {
		if isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: looked in %v", ErrNotInstalled, cands)
}

func versionOf(bin string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return v
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
