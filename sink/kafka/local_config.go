package kafka

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EnvLibs names the environment variable with the Kafka jar directory; the
// Makefile exports it pointing at the cache `make kafka-jars` fills.
const EnvLibs = "CHAOSRUN_KAFKA_LIBS"

// cacheLibs is where `make kafka-jars` puts the jars, relative to a checkout.
var cacheLibs = filepath.Join(".cache", "kafka", "libs")

// DefaultLibsDir is where the local provider finds the Kafka jars when
// LocalConfig.LibsDir is empty, the way `make run` does: $CHAOSRUN_KAFKA_LIBS
// when set, else the checkout's cache (.cache/kafka/libs) under the working
// directory or above the running binary (bin/chaosrun). It returns "" and
// the places it looked when none holds the jars.
func DefaultLibsDir() (dir string, looked []string) {
	if env := os.Getenv(EnvLibs); env != "" {
		return env, []string{"$" + EnvLibs}
	}
	cands := []string{cacheLibs}
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(filepath.Dir(exe)), cacheLibs))
	}
	for _, c := range cands {
		if checkLibs(c) == nil {
			return c, cands
		}
	}
	return "", cands
}

// MaxLocalBrokers bounds LocalConfig.Brokers: every node is a combined
// broker and controller JVM, and the machines this runs on are small.
const MaxLocalBrokers = 5

// LocalConfig configures the local provider. Zero values take the defaults
// noted.
type LocalConfig struct {
	// Dir is the run directory; the cluster lives in Dir/kafka, which must
	// not exist yet or be empty. Required.
	Dir string
	// Brokers is the number of combined broker+controller nodes, 1 (the
	// default) to MaxLocalBrokers; 3 is the usual replicated setup.
	Brokers int
	// LibsDir holds the Kafka jars; default DefaultLibsDir(). The
	// log4j2 configuration is read from LibsDir/../config/log4j2.properties.
	LibsDir string
	// Java is the java executable; default $JAVA_HOME/bin/java, then PATH.
	Java string
	// HeapMB is each broker's maximum heap; default 512.
	HeapMB int
	// Host is the address every listener binds and advertises; default
	// 127.0.0.1.
	Host string
	// Command, when set, builds the command that runs a JVM of node node
	// (1-based): the storage format tool and the broker. name and args are
	// java and its arguments; ctx is the cluster's life, to be passed to
	// exec.CommandContext. The provider then sets the command's directory,
	// output, process group and cancellation.
	// Nil runs java directly. The netns placement uses it to start the
	// JVMs inside Kafka's network namespace.
	Command func(ctx context.Context, node int, name string, args ...string) *exec.Cmd
	// Listen, when set, opens the listeners that reserve free ports on Host
	// before the brokers bind them; nil is net.Listen. A Host that is not
	// an address of the harness's own network namespace (netns placement)
	// needs one that binds where the brokers will run.
	Listen func(network, address string) (net.Listener, error)
	// ClientPorts fixes the client (PLAINTEXT) port of each broker, in node
	// order; empty means free ports. Controller ports are always free ports.
	ClientPorts []int
	// StartTimeout bounds Start's wait for readiness; default 90s.
	StartTimeout time.Duration
	// Overrides adds or replaces broker properties (server.properties keys).
	Overrides map[string]string
	// JVMOptions are appended to each broker's JVM options; a later option
	// wins, so they can replace the defaults (heap, GC).
	JVMOptions []string
	// Logger receives the provider's logs; default slog.Default().
	Logger *slog.Logger
}

func (c LocalConfig) withDefaults() LocalConfig {
	if c.Brokers == 0 {
		c.Brokers = 1
	}
	if c.LibsDir == "" {
		c.LibsDir, _ = DefaultLibsDir()
	}
	if c.HeapMB == 0 {
		c.HeapMB = 512
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 90 * time.Second
	}
	c.Logger = orDefault(c.Logger)
	return c
}

func (c LocalConfig) validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("local provider: Dir is required: %w", ErrBadConfig)
	case c.Brokers < 1 || c.Brokers > MaxLocalBrokers:
		return fmt.Errorf("local provider: %d brokers (want 1..%d): %w", c.Brokers, MaxLocalBrokers, ErrBadConfig)
	case len(c.ClientPorts) != 0 && len(c.ClientPorts) != c.Brokers:
		return fmt.Errorf("local provider: %d client ports for %d brokers: %w", len(c.ClientPorts), c.Brokers, ErrBadConfig)
	case c.HeapMB < 128:
		return fmt.Errorf("local provider: heap %d MB (want >= 128): %w", c.HeapMB, ErrBadConfig)
	}
	return nil
}

// FindJava resolves the java executable: explicit if set, else
// $JAVA_HOME/bin/java, else java on the PATH. Every JVM chaosrun starts
// (brokers, Connect workers) is found this way.
func FindJava(explicit string) (string, error) {
	cands := []string{explicit}
	if explicit == "" {
		cands = nil
		if home := os.Getenv("JAVA_HOME"); home != "" {
			cands = append(cands, filepath.Join(home, "bin", "java"))
		}
		cands = append(cands, "java")
	}
	for _, c := range cands {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("local provider: looked for %q: %w", cands, ErrJavaNotFound)
}

// checkLibs verifies that dir holds the Kafka core jar (kafka.Kafka and
// kafka.tools.StorageTool live in it).
func checkLibs(dir string) error {
	if dir == "" {
		_, looked := DefaultLibsDir()
		return fmt.Errorf("local provider: no Kafka jars in %s (set %s or LocalConfig.LibsDir): %w",
			strings.Join(looked, ", "), EnvLibs, ErrJarsMissing)
	}
	core, err := filepath.Glob(filepath.Join(dir, "kafka_2.13-*.jar"))
	if err != nil || len(core) == 0 {
		return fmt.Errorf("local provider: no kafka_2.13 jar in %s: %w", dir, ErrJarsMissing)
	}
	return nil
}

// newUUID returns a Kafka Uuid in its string form: 16 random bytes,
// URL-safe base64 without padding (Uuid.randomUuid). Like Kafka it rejects
// the reserved ZERO and ONE ids and ids starting with '-', which command
// lines would take for an option.
func newUUID() (string, error) {
	var b [16]byte
	for range 100 {
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("random uuid: %w", err)
		}
		if isReservedUUID(b) {
			continue
		}
		s := base64.RawURLEncoding.EncodeToString(b[:])
		if !strings.HasPrefix(s, "-") {
			return s, nil
		}
	}
	return "", fmt.Errorf("random uuid: no usable id in 100 draws")
}

func isReservedUUID(b [16]byte) bool {
	for _, x := range b[:15] {
		if x != 0 {
			return false
		}
	}
	return b[15] <= 1 // ZERO_UUID or ONE_UUID
}

// nodeSpec is what a node's properties are rendered from.
type nodeSpec struct {
	id             int32
	clientPort     int
	controllerPort int
	dataDir        string
}

// renderProps renders node n's server.properties for a cluster of all
// combined nodes on host. The quorum is dynamic (KIP-853):
// controller.quorum.bootstrap.servers here, --initial-controllers at format.
func renderProps(n nodeSpec, all []nodeSpec, host string, overrides map[string]string) string {
	var quorum []string
	for _, o := range all {
		quorum = append(quorum, net.JoinHostPort(host, strconv.Itoa(o.controllerPort)))
	}
	listeners := fmt.Sprintf("PLAINTEXT://%s,CONTROLLER://%s",
		net.JoinHostPort(host, strconv.Itoa(n.clientPort)), net.JoinHostPort(host, strconv.Itoa(n.controllerPort)))
	props := map[string]string{
		"process.roles":                       "broker,controller",
		"node.id":                             strconv.Itoa(int(n.id)),
		"controller.quorum.bootstrap.servers": strings.Join(quorum, ","),
		"listeners":                           listeners,
		"advertised.listeners":                listeners,
		"inter.broker.listener.name":          "PLAINTEXT",
		"controller.listener.names":           "CONTROLLER",
		"listener.security.protocol.map":      "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"log.dirs":                            n.dataDir,
	}
	maps.Copy(props, sharedProps(min(len(all), 3)))
	maps.Copy(props, overrides)
	var b strings.Builder
	b.WriteString("# Written by chaosrun (sink/kafka local provider).\n")
	for _, k := range slices.Sorted(maps.Keys(props)) {
		fmt.Fprintf(&b, "%s=%s\n", k, escapeProp(props[k]))
	}
	return b.String()
}

// initialControllers renders StorageTool's --initial-controllers value:
// id@host:port:directoryId for every node.
func initialControllers(all []nodeSpec, host string, dirIDs []string) string {
	parts := make([]string, len(all))
	for i, n := range all {
		parts[i] = fmt.Sprintf("%d@%s:%s", n.id, net.JoinHostPort(host, strconv.Itoa(n.controllerPort)), dirIDs[i])
	}
	return strings.Join(parts, ",")
}

// escapeProp escapes a java.util.Properties value.
func escapeProp(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	v = strings.ReplaceAll(v, "\n", `\n`)
	return v
}

// sharedProps is the broker tuning every provider of this package uses for
// a cluster whose topics are replicated rf times: no auto-created topics,
// internal topics replicated like user topics with one partition each
// (the default 50 partitions are slow to create on 2 cores), no rebalance
// delay, fewer threads (a small machine runs several brokers), and a dead
// broker noticed in seconds rather than the default 9s so broker-fault
// scenarios move on quickly (heartbeat < session).
func sharedProps(rf int) map[string]string {
	minISR := 1
	if rf >= 3 {
		minISR = 2
	}
	return map[string]string{
		"auto.create.topics.enable":                        "false",
		"num.partitions":                                   "1",
		"default.replication.factor":                       strconv.Itoa(rf),
		"offsets.topic.replication.factor":                 strconv.Itoa(rf),
		"offsets.topic.num.partitions":                     "1",
		"transaction.state.log.replication.factor":         strconv.Itoa(rf),
		"transaction.state.log.min.isr":                    strconv.Itoa(minISR),
		"transaction.state.log.num.partitions":             "1",
		"share.coordinator.state.topic.replication.factor": strconv.Itoa(rf),
		"share.coordinator.state.topic.min.isr":            strconv.Itoa(minISR),
		"share.coordinator.state.topic.num.partitions":     "1",
		"group.initial.rebalance.delay.ms":                 "0",
		"num.network.threads":                              "2",
		"num.io.threads":                                   "4",
		"background.threads":                               "4",
		"broker.heartbeat.interval.ms":                     "1000",
		"broker.session.timeout.ms":                        "6000",
		"replica.lag.time.max.ms":                          "10000",
	}
}
