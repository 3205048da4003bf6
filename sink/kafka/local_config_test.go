package kafka

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		id, err := newUUID()
		require.NoError(t, err)
		require.Len(t, id, 22)
		require.False(t, strings.HasPrefix(id, "-"), id)
		raw, err := base64.RawURLEncoding.DecodeString(id)
		require.NoError(t, err)
		require.Len(t, raw, 16)
		require.False(t, seen[id])
		seen[id] = true
	}
	var zero, one, other [16]byte
	one[15], other[0] = 1, 1
	assert.True(t, isReservedUUID(zero))
	assert.True(t, isReservedUUID(one))
	assert.False(t, isReservedUUID(other))
}

func TestRenderProps(t *testing.T) {
	all := []nodeSpec{
		{id: 1, clientPort: 21001, controllerPort: 21002, dataDir: "/run/kafka/n1/data"},
		{id: 2, clientPort: 21003, controllerPort: 21004, dataDir: "/run/kafka/n2/data"},
		{id: 3, clientPort: 21005, controllerPort: 21006, dataDir: "/run/kafka/n3/data"},
	}
	got := renderProps(all[1], all, "127.0.0.1", map[string]string{"num.io.threads": "2", "x.y": `a\b`})
	for _, want := range []string{
		"node.id=2\n",
		"process.roles=broker,controller\n",
		"controller.quorum.bootstrap.servers=127.0.0.1:21002,127.0.0.1:21004,127.0.0.1:21006\n",
		"listeners=PLAINTEXT://127.0.0.1:21003,CONTROLLER://127.0.0.1:21004\n",
		"log.dirs=/run/kafka/n2/data\n",
		"offsets.topic.replication.factor=3\n",
		"transaction.state.log.min.isr=2\n",
		"auto.create.topics.enable=false\n",
		"num.io.threads=2\n", // override wins
		`x.y=a\\b` + "\n",    // escaped
	} {
		assert.Contains(t, got, want)
	}
	assert.NotContains(t, got, "controller.quorum.voters", "dynamic quorum only")

	single := renderProps(all[0], all[:1], "127.0.0.1", nil)
	assert.Contains(t, single, "offsets.topic.replication.factor=1\n")
	assert.Contains(t, single, "transaction.state.log.min.isr=1\n")

	assert.Equal(t, "1@127.0.0.1:21002:A,2@127.0.0.1:21004:B,3@127.0.0.1:21006:C",
		initialControllers(all, "127.0.0.1", []string{"A", "B", "C"}))
}

func TestLocalConfigValidate(t *testing.T) {
	libs := t.TempDir()
	for _, tt := range []struct {
		name string
		cfg  LocalConfig
	}{
		{"no dir", LocalConfig{LibsDir: libs}},
		{"zero brokers after default is fine, too many is not", LocalConfig{Dir: "d", Brokers: MaxLocalBrokers + 1, LibsDir: libs}},
		{"ports count", LocalConfig{Dir: "d", Brokers: 3, ClientPorts: []int{1}, LibsDir: libs}},
		{"tiny heap", LocalConfig{Dir: "d", HeapMB: 64, LibsDir: libs}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLocal(tt.cfg)
			require.ErrorIs(t, err, ErrBadConfig)
		})
	}
}

func TestMentionsPortInUse(t *testing.T) {
	assert.True(t, mentionsPortInUse("java.net.BindException: Address already in use"))
	assert.False(t, mentionsPortInUse("all good"))
}

// TestDefaultLibsDir finds the jars the way `make run` does: the variable
// first, then the checkout's cache under the working directory.
func TestDefaultLibsDir(t *testing.T) {
	t.Setenv(EnvLibs, "")
	t.Chdir(t.TempDir())
	dir, looked := DefaultLibsDir()
	assert.Empty(t, dir, "no jars anywhere")
	assert.Contains(t, looked, cacheLibs)
	_, err := NewLocal(LocalConfig{Dir: t.TempDir()})
	require.ErrorIs(t, err, ErrJarsMissing)
	assert.ErrorContains(t, err, cacheLibs, "the error names where it looked")

	require.NoError(t, os.MkdirAll(cacheLibs, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cacheLibs, "kafka_2.13-"+KafkaVersion+".jar"), nil, 0o644))
	dir, _ = DefaultLibsDir()
	assert.Equal(t, cacheLibs, dir, "the checkout's cache")

	t.Setenv(EnvLibs, "/elsewhere")
	dir, _ = DefaultLibsDir()
	assert.Equal(t, "/elsewhere", dir, "the variable wins")
}
