package scenario

import (
	"context"
	"errors"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/system/cluster"
)

// newNetnsPlacement builds the run's namespaces. Until the netns placement
// lands the netns backend is refused.
func newNetnsPlacement(_ context.Context, _ *runner) (cluster.Placement, error) {
	return nil, errors.New("the netns placement is not available yet; use --backend toxiproxy")
}

// placeProcess adds the fabric's view (namespace, address) to a process.
func (r *runner) placeProcess(p chaos.Process) chaos.Process { return p }

// envNetwork gives the backends the run's namespaces.
func (r *runner) envNetwork(env *chaos.Env) {}

// closeNetwork removes the run's namespaces.
func (r *runner) closeNetwork(ctx context.Context) {}
