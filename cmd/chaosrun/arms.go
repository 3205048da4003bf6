package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/scenario"
)

// fencingArm is one configuration that compare and sweep run a plan under:
// the control plane's fencing policy, self-fence, and the sink mode of the
// cdc target's dispatchers. Its name says all three: the fencing part
// ("epoch", "off", "epoch+self-fence") decides the verdict the scenario
// declares for it (scenario.Expect.For), and a "+txn" suffix marks the
// transactional sink. An arm's sink always applies, over the scenario's
// own sink field.
type fencingArm struct {
	name      string
	policy    fencing.Policy
	selfFence bool
	sink      string // scenario.SinkIdempotent or scenario.SinkTxn
}

// txnSuffix ends the name of an arm with the transactional sink.
const txnSuffix = "+txn"

// The fencing parts of the arms compare and sweep know, each with the
// idempotent sink.
var (
	armEpoch     = fencingArm{"epoch", fencing.Epoch, false, scenario.SinkIdempotent}
	armOff       = fencingArm{"off", fencing.Off, false, scenario.SinkIdempotent}
	armSelfFence = fencingArm{"epoch+self-fence", fencing.Epoch, true /* selfFence */, scenario.SinkIdempotent}
)

// withSink returns a with sink mode sink, named for it.
func (a fencingArm) withSink(sink string) fencingArm {
	a.name = strings.TrimSuffix(a.name, txnSuffix)
	a.sink = sink
	if sink == scenario.SinkTxn {
		a.name += txnSuffix
	}
	return a
}

// fencingArms lists every arm, in the order their names are offered: each
// fencing part with the idempotent sink, then each with the txn sink.
var fencingArms = func() []fencingArm {
	base := []fencingArm{armEpoch, armOff, armSelfFence}
	arms := slices.Clone(base)
	for _, a := range base {
		arms = append(arms, a.withSink(scenario.SinkTxn))
	}
	return arms
}()

// matrixArms are the arms of compare --matrix: fencing {epoch, off} × sink
// {idempotent, txn}, and self-fence with fencing on.
var matrixArms = []fencingArm{armEpoch, armOff, armEpoch.withSink(scenario.SinkTxn), armOff.withSink(scenario.SinkTxn), armSelfFence}

// armNames lists the names of arms.
func armNames(arms []fencingArm) []string {
	names := make([]string, len(arms))
	for i, a := range arms {
		names[i] = a.name
	}
	return names
}

// parseArms resolves arm names, in the order given, without repeats.
func parseArms(names []string) ([]fencingArm, error) {
	var arms []fencingArm
	for _, n := range names {
		i := slices.IndexFunc(fencingArms, func(a fencingArm) bool { return a.name == n })
		if i < 0 {
			return nil, fmt.Errorf("sweep: unknown arm %q (want %s)", n, strings.Join(armNames(fencingArms), ", "))
		}
		if !slices.Contains(arms, fencingArms[i]) {
			arms = append(arms, fencingArms[i])
		}
	}
	if len(arms) == 0 {
		return nil, fmt.Errorf("sweep: --arms names no arm")
	}
	return arms, nil
}
