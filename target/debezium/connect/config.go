package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// EnvDir names the environment variable with the Connect cache directory
// (libs/, plugins/, config/); the Makefile exports it pointing at what
// `make connect-jars` fills.
const EnvDir = "CHAOSRUN_CONNECT_LIBS"

// cacheDir is where `make connect-jars` puts the jars, relative to a
// checkout.
var cacheDir = filepath.Join(".cache", "connect")

// ErrJarsMissing reports that the Connect runtime or the Debezium plugin
// was not found.
var ErrJarsMissing = errors.New("connect: jars missing (run `make deps`)")

// DefaultDir is the Connect cache: $CHAOSRUN_CONNECT_LIBS when set, else
// the checkout's .cache/connect under the working directory or above the
// running binary (bin/chaosrun). It returns "" and the places it looked
// when none holds the runtime.
func DefaultDir() (dir string, looked []string) {
	if env := os.Getenv(EnvDir); env != "" {
		return env, []string{"$" + EnvDir}
	}
	cands := []string{cacheDir}
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(filepath.Dir(exe)), cacheDir))
	}
	for _, c := range cands {
		if checkLibs(filepath.Join(c, "libs")) == nil {
			// NB: absolute, because the workers run in their own directory.
			if abs, err := filepath.Abs(c); err == nil {
				c = abs
			}
			return c, cands
		}
	}
	return "", cands
}

// DefaultPort is a worker's REST port when each worker has its own
// address.
const DefaultPort = 18083

// Config configures a Connect cluster. Zero values take the defaults noted.
type Config struct {
	// Dir holds each worker's properties and log (connect-<i>.log).
	// Required.
	Dir string
	// Workers is the number of workers; default 3.
	Workers int
	// Brokers is the Kafka bootstrap list as the workers dial it. Required.
	Brokers []string
	// Libs is the Connect runtime's jar directory; default
	// DefaultDir()/libs. The log4j2 configuration is read from
	// Libs/../config/log4j2.properties when it exists.
	Libs string
	// Plugins is the plugin.path (it holds debezium-postgres/); default
	// DefaultDir()/plugins.
	Plugins string
	// GroupID is the Connect cluster's group and the prefix of its internal
	// topics and of the tasks' transactional ids; default "chaosrun-connect".
	GroupID string
	// EOS turns on exactly-once source support (KIP-618) in the workers.
	EOS bool
	// Host is the address worker i (1-based) binds and advertises; nil is
	// 127.0.0.1 for all.
	Host func(i int) string
	// Port is worker i's REST port; nil gives free ports on loopback when
	// Host is nil, and DefaultPort for all otherwise (each worker then has
	// its own address).
	Port func(i int) int
	// Command builds the command that runs worker i's JVM (a namespace's
	// `ip netns exec`); nil runs java directly. It must use
	// exec.CommandContext with ctx.
	Command func(ctx context.Context, i int, path string, args ...string) *exec.Cmd
	// Logger receives the cluster's logs; default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" || len(c.Brokers) == 0 {
		return c, errors.New("connect: Config.Dir and Config.Brokers are required")
	}
	if c.Workers == 0 {
		c.Workers = 3
	}
	if c.Libs == "" || c.Plugins == "" {
		d, looked := DefaultDir()
		if d == "" {
			return c, fmt.Errorf("%w: no Connect jars in %s (set %s)", ErrJarsMissing, strings.Join(looked, ", "), EnvDir)
		}
		if c.Libs == "" {
			c.Libs = filepath.Join(d, "libs")
		}
		if c.Plugins == "" {
			c.Plugins = filepath.Join(d, "plugins")
		}
	}
	if err := checkLibs(c.Libs); err != nil {
		return c, err
	}
	if dbz, _ := filepath.Glob(filepath.Join(c.Plugins, "*", "debezium-connector-postgres-*.jar")); len(dbz) == 0 {
		return c, fmt.Errorf("%w: no debezium-connector-postgres jar under %s", ErrJarsMissing, c.Plugins)
	}
	if c.GroupID == "" {
		c.GroupID = "chaosrun-connect"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// checkLibs verifies that dir holds connect-runtime (ConnectDistributed).
func checkLibs(dir string) error {
	if jars, _ := filepath.Glob(filepath.Join(dir, "connect-runtime-*.jar")); len(jars) == 0 {
		return fmt.Errorf("%w: no connect-runtime jar in %s", ErrJarsMissing, dir)
	}
	return nil
}

// workerProps renders worker.properties.
func workerProps(c Config, host string, port int) string {
	eos := "disabled"
	if c.EOS {
		eos = "enabled"
	}
	p := map[string]string{
		"bootstrap.servers":    strings.Join(c.Brokers, ","),
		"group.id":             c.GroupID,
		"config.storage.topic": c.GroupID + "-configs",
		"offset.storage.topic": c.GroupID + "-offsets",
		"status.storage.topic": c.GroupID + "-status",
		// One broker: replication factor 1, and one partition each
		// (the defaults, 25 and 5, are slow to create on two cores).
		"config.storage.replication.factor": "1",
		"offset.storage.replication.factor": "1",
		"status.storage.replication.factor": "1",
		"offset.storage.partitions":         "1",
		"status.storage.partitions":         "1",
		"key.converter":                     "org.apache.kafka.connect.json.JsonConverter",
		"value.converter":                   "org.apache.kafka.connect.json.JsonConverter",
		"key.converter.schemas.enable":      "false",
		"value.converter.schemas.enable":    "false",
		"plugin.path":                       c.Plugins,
		// Load plugins from their ServiceLoader manifests instead of
		// scanning every jar: ready in ~3 s instead of ~9 s.
		"plugin.discovery": "service_load",
		"listeners":        "http://" + hostPort(host, port),
		// worker_id in the status API is the advertised host:port.
		"rest.advertised.host.name": host,
		"rest.advertised.port":      strconv.Itoa(port),
		// A worker that stops heartbeating leaves the group after 6 s, the
		// broker's floor (group.min.session.timeout.ms; lower fails, G4).
		"session.timeout.ms": "6000",
		// Three heartbeats per session, as the group protocol wants.
		"heartbeat.interval.ms": "2000",
		// A departed worker's connectors and tasks move in the next
		// rebalance, not after up to 5 min (the default) of waiting for it
		// to come back.
		"scheduled.rebalance.max.delay.ms": "0",
		// Source offsets are committed every second (default 60 s), so a
		// failover without EOS replays at most about a second of rows.
		"offset.flush.interval.ms":    "1000",
		"exactly.once.source.support": eos,
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# Written by chaosrun (target/debezium/connect).\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, escapeProp(p[k]))
	}
	return b.String()
}

// escapeProp escapes a .properties value.
func escapeProp(v string) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, ":", `\:`, "=", `\=`)
	return r.Replace(v)
}
