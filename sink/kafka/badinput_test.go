package kafka

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestWrongBootstrap(t *testing.T) {
	addrs := []string{deadAddr(t)}
	ctx := within(t, 30*time.Second)

	e, err := NewExternal(addrs, testLogger(t))
	require.NoError(t, err)
	_, err = e.Start(ctx)
	require.ErrorIs(t, err, ErrUnreachable)
	assert.Contains(t, err.Error(), addrs[0])
	require.NoError(t, e.Close())

	_, err = NewProducer(ctx, ProducerConfig{Brokers: addrs})
	require.ErrorIs(t, err, ErrUnreachable)
	_, err = NewConsumer(ctx, ConsumerConfig{Brokers: addrs, Topic: "t"})
	require.ErrorIs(t, err, ErrUnreachable)
	err = CreateTopic(ctx, addrs, TopicSpec{Name: "t"})
	require.ErrorIs(t, err, ErrUnreachable)

	_, err = NewExternal([]string{"no-port"}, nil)
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = NewExternal(nil, nil)
	require.ErrorIs(t, err, ErrBadConfig)
	_, err = NewProvider(Options{Provider: "kafka-in-a-box"})
	require.ErrorIs(t, err, ErrUnknownProvider)
	p, err := NewProvider(Options{Provider: ProviderExternal, Bootstrap: addrs})
	require.NoError(t, err)
	assert.Equal(t, ProviderExternal, p.Name())
}

func TestMissingJarsAndJava(t *testing.T) {
	dir := t.TempDir()
	_, err := NewLocal(LocalConfig{Dir: dir, LibsDir: t.TempDir()})
	require.ErrorIs(t, err, ErrJarsMissing)
	assert.Contains(t, err.Error(), "run `make kafka-jars`")

	t.Setenv(EnvLibs, "")
	p, err := NewProvider(Options{Local: LocalConfig{Dir: dir}})
	require.ErrorIs(t, err, ErrJarsMissing)
	assert.Contains(t, err.Error(), EnvLibs)
	assert.True(t, p == nil, "a failed provider is a nil interface, not a typed nil a caller would Close")

	libs := testLibs(t)
	_, err = NewLocal(LocalConfig{Dir: dir, LibsDir: libs, Java: filepath.Join(t.TempDir(), "java")})
	require.ErrorIs(t, err, ErrJavaNotFound)
	t.Setenv("JAVA_HOME", "")
	t.Setenv("PATH", t.TempDir())
	_, err = NewLocal(LocalConfig{Dir: dir, LibsDir: libs})
	require.ErrorIs(t, err, ErrJavaNotFound)

	assertNoProcesses(t, dir, nil)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing is laid out before Start")
}

func TestPortInUse(t *testing.T) {
	needBroker(t)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = held.Close() }()
	port := held.Addr().(*net.TCPAddr).Port
	ctx := within(t, 2*time.Minute)

	t.Run("taken before start", func(t *testing.T) {
		dir := t.TempDir()
		l, err := NewLocal(LocalConfig{Dir: dir, ClientPorts: []int{port}, LibsDir: testLibs(t), Logger: testLogger(t)})
		require.NoError(t, err)
		_, err = l.Start(ctx)
		require.ErrorIs(t, err, ErrPortInUse)
		assert.Contains(t, err.Error(), strconv.Itoa(port))
		require.NoError(t, l.Close())
		assertNoProcesses(t, dir, nil)
	})

	t.Run("taken while the broker starts", func(t *testing.T) {
		dir := t.TempDir()
		l, err := NewLocal(LocalConfig{Dir: dir, LibsDir: testLibs(t), Logger: testLogger(t)})
		require.NoError(t, err)
		var thief net.Listener
		l.hookBeforeBrokers = func() {
			// Another process grabs the broker's client port between the
			// provider's check and the broker's bind.
			thief, err = net.Listen("tcp", l.Bootstrap()[0])
			require.NoError(t, err)
		}
		_, err = l.Start(ctx)
		require.NotNil(t, thief)
		defer func() { _ = thief.Close() }()
		require.ErrorIs(t, err, ErrBrokerExited)
		require.ErrorIs(t, err, ErrPortInUse)
		assert.Contains(t, err.Error(), "Address already in use", "the error carries the broker log's tail")
		require.NoError(t, l.Close())
		assertNoProcesses(t, dir, nil)
	})
}

func TestBrokerExitsDuringStart(t *testing.T) {
	needBroker(t)
	dir := t.TempDir()
	// Storage formats fine; the broker dies when it loads the authorizer.
	l, err := NewLocal(LocalConfig{
		Dir: dir, LibsDir: testLibs(t), Logger: testLogger(t),
		Overrides: map[string]string{"authorizer.class.name": "org.example.NoSuchAuthorizer"},
	})
	require.NoError(t, err)
	_, err = l.Start(within(t, 2*time.Minute))
	require.ErrorIs(t, err, ErrBrokerExited)
	require.NotErrorIs(t, err, ErrPortInUse)
	assert.Contains(t, err.Error(), "NoSuchAuthorizer", "the error carries the broker log's tail")
	assert.Contains(t, err.Error(), "server.log")
	require.NoError(t, l.Close())
	assertNoProcesses(t, dir, nil)

	// A used run directory is refused, and Start runs once.
	_, err = l.Start(context.Background())
	require.ErrorIs(t, err, ErrClosed)
	l2, err := NewLocal(LocalConfig{Dir: dir, LibsDir: testLibs(t)})
	require.NoError(t, err)
	_, err = l2.Start(context.Background())
	require.ErrorIs(t, err, ErrBadConfig)
	require.NoError(t, l2.Close())

	// A directory with a comma would be split by log.dirs.
	comma := filepath.Join(t.TempDir(), "a,b")
	l3, err := NewLocal(LocalConfig{Dir: comma, LibsDir: testLibs(t)})
	require.NoError(t, err)
	_, err = l3.Start(context.Background())
	require.ErrorIs(t, err, ErrBadConfig)
	assert.Contains(t, err.Error(), "comma")
	require.NoError(t, l3.Close())
	assertNoProcesses(t, comma, nil)
}

// TestStartCancelled cancels the context while the cluster starts: Start
// fails and no process is left.
func TestStartCancelled(t *testing.T) {
	needBroker(t)
	dir := t.TempDir()
	l, err := NewLocal(LocalConfig{Dir: dir, LibsDir: testLibs(t), Logger: testLogger(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	l.hookBeforeBrokers = func() { time.AfterFunc(500*time.Millisecond, cancel) }
	_, err = l.Start(ctx)
	require.Error(t, err)
	require.ErrorIs(t, err, context.Canceled)
	assertNoProcesses(t, dir, nil)
}
