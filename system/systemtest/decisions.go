package systemtest

import (
	"fmt"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/system/roles"
)

// routine reports an accepted decision on periodic traffic.
func routine(d roles.Decision) bool {
	switch d.Message {
	case "HeartBeatRequest", "MaintainerStatus", "CheckpointTsMessage", "HeartBeatResponse", "PersistCheckpoint":
		return d.Acts() && d.Rule != fencing.RuleOperatorCheck
	}
	return d.Verdict == fencing.Duplicate
}

// quiet reports an accepted decision of the normal protocol flow whose
// effect the transcript already shows (or that a reader can infer).
func quiet(d roles.Decision) bool {
	switch d.Rule {
	case fencing.RuleMaintainerResponse, fencing.RuleManagerAdmit:
		return d.Acts()
	}
	return false
}

// staleAct reports whether a receiver acted on a superseded generation.
func (e *Env) staleAct(d roles.Decision) bool {
	if !d.Acts() || d.Claim.Epoch == 0 || d.Rule == fencing.RuleMaintainerRemove || d.Rule == fencing.RuleCheckpointWrite {
		return false
	}
	switch d.Rule {
	case fencing.RuleMaintainerResponse, fencing.RuleMaintainerBeat, fencing.RuleOperatorCheck:
		if d.Claim.Epoch == d.LocalEpoch {
			return false // a maintainer (or an operator) hearing the generation it expects
		}
	}
	return d.Claim.Epoch < e.metaEpoch(d.Changefeed)
}

func (e *Env) logDecision(d roles.Decision) {
	stale := e.staleAct(d)
	if d.Rule == fencing.RuleCheckpointWrite {
		_, rev := e.meta.Owner()
		stale = d.Acts() && d.Claim.Epoch != uint64(rev)
	}
	if !e.verbose && !stale && (routine(d) || quiet(d)) {
		return
	}
	local := fmt.Sprintf("local e%d", d.LocalEpoch)
	if d.Rule == fencing.RuleCheckpointWrite {
		local = fmt.Sprintf("writer rev %d, owner rev %d", d.Claim.Epoch, d.LocalEpoch)
	} else if d.LocalNode != "" {
		local += " owner " + d.LocalNode
	}
	from := fmt.Sprintf(" from %s e%d", d.Claim.From, d.Claim.Epoch)
	if d.Rule == fencing.RuleCheckpointWrite {
		from = ""
	}
	line := fmt.Sprintf("%s %s %s %s%s: %s (%s: %s; %s)", d.Node, d.Role, d.Changefeed, d.Message, from, d.Verdict, d.Rule, d.Reason, local)
	if d.Tombstone {
		line += " +tombstone"
	}
	if stale {
		line += "  !! stale act"
	}
	e.out.add("%s", line)
}
