package debezium

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/evidence/debezium"
	"github.com/chaosrun/chaosrun/internal/place"
	"github.com/chaosrun/chaosrun/internal/wait"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/target"
	"github.com/chaosrun/chaosrun/target/debezium/connect"
	"github.com/chaosrun/chaosrun/target/debezium/pg"
	"github.com/chaosrun/chaosrun/target/debezium/pgstore"
	"github.com/chaosrun/chaosrun/workloads"
)

// Config is the Debezium target to start.
type Config struct {
	// Workers is the number of Connect workers (nodes n1..nN).
	Workers int
	// Tables are the workload's tables.
	Tables []string
	// Connector names the connector; the records are checked under it.
	Connector string
	// EOS turns exactly-once source support (KIP-618) on in the workers and
	// requires it of the connector: the A side of the A/B.
	EOS bool
	// KafkaBrokers is the number of brokers.
	KafkaBrokers int
}

// PostgresName is the placement name of PostgreSQL.
const PostgresName = "postgres"

// Slot is the connector's replication slot.
const Slot = "chaosrun_slot"

// Target is Debezium Postgres on a Kafka Connect cluster as a
// target.Target. Its workers are CDC nodes to the chaos backends (node:<n>,
// their link set is peers), PostgreSQL is the upstream.
type Target struct {
	cfg   Config
	env   target.Env
	log   *slog.Logger
	kafka kafka.Provider
	brk   []string
	pg    *pg.Server
	store *pgstore.Store
	cl    *connect.Cluster
}

var _ target.Target = (*Target)(nil)

// New returns the target cfg describes, not started.
func New(cfg Config) *Target {
	if cfg.Workers == 0 {
		cfg.Workers = 3
	}
	return &Target{cfg: cfg}
}

// nodeName is worker i's node id, as the scenarios' node:<i> names it.
func nodeName(i int) string { return "n" + strconv.Itoa(i) }

// workerIndex returns the number of worker name (connect-<i>).
func workerIndex(name string) (int, error) {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "connect-"))
	if err != nil {
		return 0, fmt.Errorf("debezium: %q is not a worker", name)
	}
	return i, nil
}

// Topic is the one topic every table's changes are routed to.
func (t *Target) Topic() string { return t.cfg.Connector + ".changes" }

// Names implements target.Target.
func (t *Target) Names() []string {
	names := []string{place.KafkaName, PostgresName}
	for i := 1; i <= t.cfg.Workers; i++ {
		names = append(names, connect.WorkerName(i))
	}
	return names
}

// Start implements target.Target: Kafka and the sink topic, PostgreSQL and
// the workload's tables, the Connect workers, then the connector; it
// returns once the connector's task holds the replication slot, so that
// every later commit is streamed.
func (t *Target) Start(ctx context.Context, env target.Env) error {
	t.env, t.log = env, env.Logger
	pl := env.Placement
	var err error
	ko := env.Kafka
	ko.Local.Brokers, ko.Testcontainers.Brokers, ko.Testcontainers.Dir = t.cfg.KafkaBrokers, t.cfg.KafkaBrokers, env.Dir
	if t.kafka, t.brk, err = place.StartKafka(ctx, ko, env.Dir, pl, t.log); err != nil {
		return fmt.Errorf("debezium: %w", err)
	}
	if err := kafka.CreateTopic(ctx, t.brk, kafka.TopicSpec{Name: t.Topic(), Partitions: 1}); err != nil {
		return fmt.Errorf("debezium: %w", err)
	}
	pgCfg := pg.Config{Dir: filepath.Join(env.Dir, PostgresName), Host: pl.Host(PostgresName), Logger: t.log,
		Command: func(ctx context.Context, path string, args ...string) *exec.Cmd {
			return pl.Command(ctx, PostgresName, path, args...)
		}}
	if pp, ok := pl.(place.PortPicker); ok {
		if pgCfg.Port, err = pp.PeerPort(PostgresName); err != nil {
			return err
		}
	}
	if t.pg, err = pg.Start(ctx, pgCfg); err != nil {
		return err
	}
	if t.store, err = pgstore.Open(ctx, t.pg.DSN(pg.Database), t.cfg.Tables); err != nil {
		return err
	}
	return t.startConnect(ctx, env)
}

// startConnect starts the workers and registers the connector.
func (t *Target) startConnect(ctx context.Context, env target.Env) error {
	pl := env.Placement
	cc := connect.Config{Dir: filepath.Join(env.Dir, "connect"), Workers: t.cfg.Workers, Brokers: t.brk, EOS: t.cfg.EOS,
		Logger: t.log,
		Command: func(ctx context.Context, i int, path string, args ...string) *exec.Cmd {
			return pl.Command(ctx, connect.WorkerName(i), path, args...)
		}}
	if _, ok := pl.(place.PortPicker); ok {
		cc.Host = func(i int) string { return pl.Host(connect.WorkerName(i)) }
	}
	var err error
	if t.cl, err = connect.Start(ctx, cc); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(t.pg.Addr())
	if err != nil {
		return err
	}
	p, _ := strconv.Atoi(port)
	cfg := connect.DebeziumConfig(connect.DebeziumParams{DBHost: host, DBPort: p, Tables: t.cfg.Tables,
		Topic: t.Topic(), Slot: Slot, EOS: t.cfg.EOS})
	if err := t.cl.CreateConnector(ctx, t.cfg.Connector, cfg); err != nil {
		return err
	}
	worker, err := t.cl.WaitTaskRunning(ctx, t.cfg.Connector)
	if err != nil {
		return err
	}
	t.log.Info("connector task running", "worker", worker)
	return t.waitSlotActive(ctx)
}

// waitSlotActive polls PostgreSQL until a walsender holds the connector's
// slot: RUNNING in Connect's status comes before that.
func (t *Target) waitSlotActive(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, t.pg.DSN(pg.Database))
	if err != nil {
		return fmt.Errorf("debezium: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for {
		var active bool
		err := conn.QueryRow(ctx, "SELECT active FROM pg_replication_slots WHERE slot_name = $1", Slot).Scan(&active)
		switch {
		case err == nil && active:
			return nil
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("debezium: slot %s: %w", Slot, err)
		}
		if err := wait.Sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("debezium: slot %s never became active: %w", Slot, err)
		}
	}
}

// Processes implements target.Target.
func (t *Target) Processes() []chaos.Process {
	procs := []chaos.Process{
		{Name: place.KafkaName, Role: chaos.RoleKafka, Endpoints: []chaos.Endpoint{{Name: target.EndpointKafka, Addr: t.brk[0]}}},
		{Name: PostgresName, Role: chaos.RoleUpstream, Pid: t.pg.Pid(), Pgid: t.pg.Pid(),
			Endpoints: []chaos.Endpoint{{Name: target.EndpointUpstream, Addr: t.pg.Addr(), Probe: chaos.ProbeConnect}}},
	}
	for i, name := range t.cl.Workers() {
		pid, _ := t.cl.Worker(name)
		addr, _ := t.cl.Addr(name)
		procs = append(procs, chaos.Process{Name: name, Role: chaos.RoleNode, NodeID: nodeName(i + 1), Pid: pid, Pgid: pid,
			Endpoints: []chaos.Endpoint{{Name: target.EndpointPeer, Addr: addr, Probe: chaos.ProbeConnect}}})
	}
	return procs
}

// Sinks implements target.Target: the routed topic, read committed (what a
// downstream consumer sees), decoded from Debezium's envelope; heartbeats
// are progress signals only.
func (t *Target) Sinks() []target.Sink {
	return []target.Sink{{Brokers: t.brk, Topic: t.Topic(), Changefeed: t.cfg.Connector,
		Decode:        debezium.Options{Changefeed: t.cfg.Connector}.Decoder(),
		ReadCommitted: true, NoWatermarkOrder: true, ExactlyOnce: true, RowProgress: true}}
}

// Store implements target.Target.
func (t *Target) Store() workloads.Store { return t.store }

// Resolve implements target.Target: task-worker from the connector's
// status, leader from the workers' logs.
func (t *Target) Resolve(ctx context.Context, role string, _ target.View) (string, error) {
	var (
		name string
		err  error
	)
	switch role {
	case "task-worker":
		name, err = t.cl.TaskWorker(ctx, t.cfg.Connector)
	case "leader":
		name, err = t.cl.Leader(ctx)
	default:
		return "", fmt.Errorf("%w: the Connect cluster has no role %q", chaos.ErrUnresolved, role)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", chaos.ErrUnresolved, role, err)
	}
	i, err := workerIndex(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", chaos.ErrUnresolved, role, err)
	}
	return nodeName(i), nil
}

// Restart implements target.Target: a killed worker starts again (a
// worker has no identity of its own beyond its address).
func (t *Target) Restart(ctx context.Context, node string, _ bool) (int, error) {
	name := ""
	for i := 1; i <= t.cfg.Workers; i++ {
		if connect.WorkerName(i) == node || nodeName(i) == node {
			name = connect.WorkerName(i)
		}
	}
	if name == "" {
		return 0, fmt.Errorf("debezium: restart %s: not a worker", node)
	}
	if err := t.cl.RestartWorker(ctx, name); err != nil {
		return 0, err
	}
	return t.cl.Worker(name)
}

// DrainTs implements target.Target: now. A heartbeat committed after now
// follows every earlier commit in the WAL.
func (t *Target) DrainTs(context.Context) (uint64, error) {
	return evidence.TSOMicros(time.Now()), nil
}

// Stop implements target.Target: it writes the change log from
// PostgreSQL, then stops the workers, PostgreSQL and Kafka.
func (t *Target) Stop(ctx context.Context) error {
	var errs []error
	if t.store != nil && t.pg != nil {
		path := filepath.Join(t.env.Dir, rundir.ChangeLogPath)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			errs = append(errs, err)
		} else if err := t.store.WriteChangeLog(ctx, path); err != nil {
			errs = append(errs, fmt.Errorf("write the change log: %w", err))
		}
	}
	if t.store != nil {
		t.store.Close()
		t.store = nil
	}
	if t.cl != nil {
		t.resumeWorkers()
		errs = append(errs, t.cl.Close())
		t.cl = nil
	}
	if t.pg != nil {
		if p := t.pg.Proc(); p != nil {
			_ = p.Signal(syscall.SIGCONT)
		}
		errs = append(errs, t.pg.Close())
		t.pg = nil
	}
	if t.kafka != nil {
		errs = append(errs, t.kafka.Close())
		t.kafka = nil
	}
	return errors.Join(errs...)
}

// resumeWorkers resumes workers a fault left paused, so they can stop.
func (t *Target) resumeWorkers() {
	for _, name := range t.cl.Workers() {
		if p, err := t.cl.Proc(name); err == nil {
			_ = p.Signal(syscall.SIGCONT)
		}
	}
}

// Status implements target.Target: where the task runs.
func (t *Target) Status(ctx context.Context) string {
	if t.cl == nil {
		return ""
	}
	qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	task := "?"
	if w, err := t.cl.TaskWorker(qctx, t.cfg.Connector); err == nil {
		task = w
	}
	return "task=" + task
}
