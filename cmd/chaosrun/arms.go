package main

import "github.com/chaosrun/chaosrun/fencing"

// fencingArm is one fencing configuration that compare and sweep run a plan
// under. Its name says which verdict the scenario declares for it (see
// scenario.Expect.For).
type fencingArm struct {
	name      string
	policy    fencing.Policy
	selfFence bool
}

// The arms compare and sweep know.
var (
	armEpoch     = fencingArm{"epoch", fencing.Epoch, false}
	armOff       = fencingArm{"off", fencing.Off, false}
	armSelfFence = fencingArm{"epoch+self-fence", fencing.Epoch, true /* selfFence */}
)

// fencingArms lists every arm, in the order their names are offered.
var fencingArms = []fencingArm{armEpoch, armOff, armSelfFence}
