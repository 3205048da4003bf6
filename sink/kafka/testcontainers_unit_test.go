package kafka

import (
	"bufio"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// entrypoint is the chaosrun/kafka image's entrypoint script.
var entrypoint = filepath.Join("..", "..", "build", "kafka-image", "run")

func TestPropertyEnv(t *testing.T) {
	for key, want := range map[string]string{
		"node.id":                            "KAFKA_NODE_ID",
		"controller.quorum.voters":           "KAFKA_CONTROLLER_QUORUM_VOTERS",
		"sasl.kerberos.service_name":         "KAFKA_SASL_KERBEROS_SERVICE__NAME",
		"some-dashed.key":                    "KAFKA_SOME___DASHED_KEY",
		"share.coordinator.state.topic.rf_x": "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_RF__X",
	} {
		assert.Equal(t, want, PropertyEnv(key), key)
	}
}

// TestKafkaVersionMatchesPom keeps the default image's tag at the local
// provider's Kafka version.
func TestKafkaVersionMatchesPom(t *testing.T) {
	pom, err := os.ReadFile(filepath.Join("..", "..", "build", "kafka", "pom.xml"))
	require.NoError(t, err)
	m := regexp.MustCompile(`<kafka.version>([^<]+)</kafka.version>`).FindSubmatch(pom)
	require.NotNil(t, m, "build/kafka/pom.xml pins kafka.version")
	require.Equal(t, string(m[1]), KafkaVersion, "KafkaVersion follows build/kafka/pom.xml")
	require.Equal(t, "apache/kafka:"+string(m[1]), DefaultImage)
}

func TestTestcontainersConfig(t *testing.T) {
	t.Setenv(EnvImage, "")
	p, err := NewTestcontainers(TestcontainersConfig{})
	require.NoError(t, err)
	if imagePresent(context.Background(), LocalImage) {
		assert.Equal(t, LocalImage, p.Image(), "the locally built image, not a pull")
	} else {
		assert.Equal(t, DefaultImage, p.Image())
	}
	assert.Regexp(t, `^tc-[a-z0-9]{12}$`, p.RunID())
	assert.Equal(t, 1, p.cfg.Brokers)

	t.Setenv(EnvImage, "chaosrun/kafka:"+KafkaVersion)
	p, err = NewTestcontainers(TestcontainersConfig{RunID: "run-1"})
	require.NoError(t, err)
	assert.Equal(t, "chaosrun/kafka:"+KafkaVersion, p.Image(), "the environment picks the image")
	assert.Equal(t, "run-1", p.RunID())
	p, err = NewTestcontainers(TestcontainersConfig{Image: "mine:1"})
	require.NoError(t, err)
	assert.Equal(t, "mine:1", p.Image(), "the option beats the environment")

	for name, cfg := range map[string]TestcontainersConfig{
		"no brokers":   {Brokers: -1},
		"too many":     {Brokers: MaxContainerBrokers + 1},
		"bad run id":   {RunID: "a b"},
		"run id slash": {RunID: "../x"},
		"small heap":   {HeapMB: 64},
	} {
		_, err := NewTestcontainers(cfg)
		require.ErrorIs(t, err, ErrBadConfig, name)
	}

	pr, err := NewProvider(Options{Provider: ProviderTestcontainers, Testcontainers: TestcontainersConfig{Brokers: 3}})
	require.NoError(t, err)
	require.IsType(t, &Testcontainers{}, pr)
	assert.Equal(t, ProviderTestcontainers, pr.Name())
	require.NoError(t, pr.Close(), "closing a provider that never started is fine")
	require.NoError(t, pr.Close())
}

// TestEntrypointRendersProperties runs the image's entrypoint in dry-run
// mode on the variables the provider sets and checks that it writes exactly
// the provider's properties: the two halves of the env mapping agree.
func TestEntrypointRendersProperties(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not found: the entrypoint is a bash script")
	}
	for _, brokers := range []int{1, 3} {
		p, err := NewTestcontainers(TestcontainersConfig{Brokers: brokers, RunID: "unit",
			Overrides: map[string]string{"log.retention-ms.x_y": "a\\b"}})
		require.NoError(t, err)
		p.clusterID = "5L6g3nShT-eMCtK--X86sw"
		nodes := make([]*containerNode, brokers)
		for i := range nodes {
			nodes[i] = &containerNode{id: int32(i + 1), alias: "kafka-" + string(rune('1'+i)), addr: "127.0.0.1:2345" + string(rune('0'+i))}
		}
		for _, n := range nodes {
			want := p.props(n, nodes)
			got := runEntrypoint(t, bash, p.env(n, nodes))
			assert.Equal(t, want, got, "node %d of %d", n.id, brokers)
			if brokers == 3 {
				assert.Equal(t, "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093", got["controller.quorum.voters"])
				assert.Contains(t, got["advertised.listeners"], "BROKER://"+n.alias+":9092")
			}
			assert.Contains(t, got["advertised.listeners"], "HOST://"+n.addr)
		}
	}

	// The official image's conveniences: listeners from the advertised
	// ones, a default data directory, CLUSTER_ID required.
	got := runEntrypoint(t, bash, map[string]string{
		"KAFKA_NODE_ID": "1", "KAFKA_PROCESS_ROLES": "broker", "CLUSTER_ID": "x",
		"KAFKA_ADVERTISED_LISTENERS": "A://h1:1,B://h2:2",
	})
	assert.Equal(t, "A://0.0.0.0:1,B://0.0.0.0:2", got["listeners"])
	assert.Equal(t, "/var/lib/kafka/data", got["log.dirs"])
	cmd := entrypointCmd(t, bash, map[string]string{"KAFKA_NODE_ID": "1", "KAFKA_PROCESS_ROLES": "broker"})
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "no CLUSTER_ID: %s", out)
	assert.Contains(t, string(out), "CLUSTER_ID is required")
	def := runEntrypoint(t, bash, nil)
	assert.Equal(t, "broker,controller", def["process.roles"], "no variables: the official default single node")
}

func entrypointCmd(t *testing.T, bash string, env map[string]string) *exec.Cmd {
	cmd := exec.Command(bash, entrypoint)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "CHAOSRUN_DRY_RUN=1", "CHAOSRUN_CONFIG_DIR=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// runEntrypoint returns the properties the entrypoint writes for env; JVM
// variables and CLUSTER_ID are not properties and are dropped from the
// comparison by construction.
func runEntrypoint(t *testing.T, bash string, env map[string]string) map[string]string {
	t.Helper()
	out, err := entrypointCmd(t, bash, env).Output()
	require.NoError(t, err)
	props := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "property line %q", line)
		props[k] = strings.ReplaceAll(v, `\\`, `\`)
	}
	return maps.Clone(props)
}
