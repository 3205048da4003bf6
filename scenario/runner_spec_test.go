package scenario

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/chaos"
)

// TestChaosSpec maps every network kind onto its chaos fault: the cut
// kinds with their direction, hold, delay and loss with their parameters,
// all on the step's or the run's backend.
func TestChaosSpec(t *testing.T) {
	r := &runner{opt: RunOptions{Backend: chaos.BackendToxiproxy}}
	peers := []string{LinkPeers}
	tests := []struct {
		step    Step
		want    chaos.Spec
		backend string
	}{
		{Step{ID: "f1", Kind: KindIsolate, Target: "node:2", Links: peers},
			chaos.Spec{ID: "f1", Kind: chaos.KindCut, Target: "node:n2", Links: peers, Direction: chaos.Both}, chaos.BackendToxiproxy},
		{Step{ID: "f2", Kind: KindOneWayIn, Target: TargetMeta, Links: peers, Backend: BackendNetns},
			chaos.Spec{ID: "f2", Kind: chaos.KindCut, Target: "meta", Links: peers, Direction: chaos.Inbound}, chaos.BackendNetns},
		{Step{ID: "f3", Kind: KindHold, Target: "node:1", Links: []string{LinkMeta, LinkUpstream}},
			chaos.Spec{ID: "f3", Kind: chaos.KindHold, Target: "node:n1", Links: []string{LinkMeta, LinkUpstream}}, chaos.BackendToxiproxy},
		{Step{ID: "f4", Kind: KindDelay, Target: "node:3", Links: peers, Delay: 250 * time.Millisecond},
			chaos.Spec{ID: "f4", Kind: chaos.KindDelay, Target: "node:n3", Links: peers, Delay: 250 * time.Millisecond}, chaos.BackendToxiproxy},
		{Step{ID: "f5", Kind: KindLoss, Target: TargetKafka, Links: peers, Loss: 0.3, Backend: BackendNetns},
			chaos.Spec{ID: "f5", Kind: chaos.KindLoss, Target: "kafka", Links: peers, Loss: 0.3}, chaos.BackendNetns},
		{Step{ID: "f6", Kind: KindPause, Target: "node:1"},
			chaos.Spec{ID: "f6", Kind: chaos.KindPause, Target: "node:n1"}, chaos.BackendPause},
	}
	for _, tc := range tests {
		spec, backend, err := r.chaosSpec(context.Background(), tc.step)
		require.NoError(t, err, tc.step.ID)
		assert.Equal(t, tc.want, spec, tc.step.ID)
		assert.Equal(t, tc.backend, backend, tc.step.ID)
	}
}

// TestCheckBackendRefusesLossOnToxiproxy: a loss cannot run on toxiproxy,
// whether the run's backend is toxiproxy or the step names it.
func TestCheckBackendRefusesLossOnToxiproxy(t *testing.T) {
	loss := Step{ID: "f1", Kind: KindLoss, Target: "node:1", Links: []string{LinkPeers}, Loss: 0.2}
	err := checkBackend(Plan{Steps: []Step{loss}}, chaos.BackendToxiproxy)
	require.ErrorContains(t, err, "step f1 is a loss, which the toxiproxy backend cannot inject")
	require.ErrorContains(t, err, "use --backend netns")

	loss.Backend = BackendNetns
	require.NoError(t, checkBackend(Plan{Steps: []Step{loss}}, chaos.BackendToxiproxy), "the step runs on netns")

	hold := Step{ID: "f2", Kind: KindHold, Target: "node:1", Links: []string{LinkPeers}}
	delay := Step{ID: "f3", Kind: KindDelay, Target: "node:2", Links: []string{LinkMeta}, Delay: time.Second}
	require.NoError(t, checkBackend(Plan{Steps: []Step{hold, delay}}, chaos.BackendToxiproxy))
	hold.Links = []string{LinkKafka}
	require.ErrorContains(t, checkBackend(Plan{Steps: []Step{hold}}, chaos.BackendToxiproxy), "cuts Kafka links")
}
