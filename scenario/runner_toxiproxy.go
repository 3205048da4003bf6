package scenario

import (
	"context"
	"fmt"
	"os/exec"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/internal/place"
)

// Endpoint names of the processes the runner starts, shared by the fabric
// (proxies) and the chaos topology.
const (
	epPeer     = "peer"
	epMeta     = "client"
	epUpstream = "grpc"
	epKafka    = "kafka"
)

// endpointOf names the endpoint a process serves, by process name.
func endpointOf(name string) string {
	switch name {
	case "meta":
		return epMeta
	case "upstream":
		return epUpstream
	case "kafka":
		return epKafka
	default:
		return epPeer
	}
}

// proxyPlacement runs every process on loopback and routes every link a
// node opens (to peers, the meta store and the upstream) through its own
// toxiproxy proxy. Kafka links are direct: one broker listener per client
// would be needed for each node to see its own proxy in the broker's
// metadata, so the toxiproxy backend cannot cut Kafka (Validate refuses it).
type proxyPlacement struct {
	px *chaos.Proxies
}

var _ place.Placement = proxyPlacement{}

func (proxyPlacement) Host(string) string { return "127.0.0.1" }

func (proxyPlacement) Command(ctx context.Context, name, bin string, args ...string) *exec.Cmd {
	return place.DefaultCommand(ctx, name, bin, args...)
}

func (p proxyPlacement) Route(ctx context.Context, from, to, addr string) (string, error) {
	a, err := p.px.Add(ctx, chaos.Process{Name: from}, chaos.Process{Name: to}, chaos.Endpoint{Name: endpointOf(to), Addr: addr})
	if err != nil {
		return "", fmt.Errorf("scenario: proxy %s -> %s: %w", from, to, err)
	}
	return a, nil
}
