package place

import (
	"context"
	"net"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/sink/kafka"
)

// recordingPlacement is a Loopback that records which process names it was
// asked about and implements Listener.
type recordingPlacement struct {
	Loopback
	names []string
}

func (p *recordingPlacement) Host(name string) string {
	p.names = append(p.names, "host:"+name)
	return "10.1.2.3"
}

func (p *recordingPlacement) Command(ctx context.Context, name, bin string, args ...string) *exec.Cmd {
	p.names = append(p.names, "command:"+name)
	return exec.CommandContext(ctx, bin, args...)
}

func (p *recordingPlacement) Listen(name, addr string) (net.Listener, error) {
	p.names = append(p.names, "listen:"+name)
	return net.Listen("tcp", addr)
}

// TestPlaceKafka checks that the local provider's host, command and port
// reservation follow the placement of KafkaName, and that fields the
// caller set are kept.
func TestPlaceKafka(t *testing.T) {
	var cfg kafka.LocalConfig
	Kafka(&cfg, Loopback{})
	require.Equal(t, "127.0.0.1", cfg.Host)
	require.Equal(t, []string{"java", "-version"}, cfg.Command(context.Background(), 1, "java", "-version").Args)
	require.Nil(t, cfg.Listen, "Loopback binds from the harness: net.Listen")

	pl := &recordingPlacement{}
	cfg = kafka.LocalConfig{}
	Kafka(&cfg, pl)
	require.Equal(t, "10.1.2.3", cfg.Host)
	cfg.Command(context.Background(), 2, "java")
	l, err := cfg.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, l.Close())
	require.Equal(t, []string{"host:kafka", "command:kafka", "listen:kafka"}, pl.names)

	pl.names = nil
	cfg = kafka.LocalConfig{Host: "192.0.2.1", Command: func(ctx context.Context, _ int, name string, args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, name, args...)
	}, Listen: net.Listen}
	Kafka(&cfg, pl)
	require.Equal(t, "192.0.2.1", cfg.Host)
	cfg.Command(context.Background(), 1, "java")
	require.Empty(t, pl.names, "caller's fields win")
}
