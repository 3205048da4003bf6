package fencing

import "fmt"

//go:generate stringer -type=Policy,Verdict -linecomment -output=enums_string.go

// Policy selects the fencing rules. It is the only switch between the fixed
// and the pre-fix behaviour, and only this package branches on it.
type Policy int

const (
	// Epoch is the fix: every receiver checks the maintainer epoch (and the
	// sender node where the rule says so).
	Epoch Policy = iota // epoch
	// Off is the behaviour before the fix: a bootstrap always overwrites the
	// dispatcher manager's owner, a close always closes, statuses are not
	// epoch-checked and an add is ignored if any maintainer exists.
	Off // off
)

// ParsePolicy parses the flag spelling of a policy ("epoch" or "off").
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "epoch":
		return Epoch, nil
	case "off":
		return Off, nil
	default:
		return 0, fmt.Errorf("fencing: unknown policy %q (want epoch or off)", s)
	}
}

// Fences reports whether p is the fixed arm. A target whose fencing is a
// setting of its own rather than these rules (Kafka Connect's exactly-once
// source support, for the debezium target) turns the setting on by it, so
// that this package stays the only one that branches on the policy.
func (p Policy) Fences() bool { return p == Epoch }

// Verdict is what a receiver must do with an incoming message.
type Verdict int

const (
	// Accept means act on the message.
	Accept Verdict = iota
	// TakeOver means accept and record the sender as the new owner.
	TakeOver
	// Duplicate means the message repeats what is already in force: answer
	// again if the protocol answers, change nothing.
	Duplicate
	// AckWithoutActing means answer success but do not act (a stale close).
	AckWithoutActing
	// Blocked means the message is newer but a live local component must stop
	// first; the sender keeps resending.
	Blocked
	// RejectStale means the claim's epoch is older than the local one.
	RejectStale
	// RejectNewer means the claim's epoch is newer than the local one where
	// only an exact match is allowed.
	RejectNewer
	// RejectSender means the epoch matches but the sender is not the recorded
	// owner (or bound node).
	RejectSender
	// RejectCompat means the claim has epoch 0 while the receiver is strict.
	RejectCompat
	// RejectTombstone means the target was closed at an epoch at least as
	// new as the claim; it must not be resurrected.
	RejectTombstone
	// RejectUnknown means there is no local component to apply the message to.
	RejectUnknown
)

// Acts reports whether the receiver changes its state for this verdict.
func (v Verdict) Acts() bool { return v == Accept || v == TakeOver }

// Rule names the receiver rule that produced a decision.
type Rule string

// The receiver rules, one per function of this package.
const (
	RuleCoordinatorStatus    Rule = "coordinator-status"
	RuleCoordinatorBootstrap Rule = "coordinator-bootstrap"
	RuleOperatorCheck        Rule = "operator-check"
	RuleMaintainerRemove     Rule = "maintainer-remove"
	RuleManagerAdd           Rule = "manager-add"
	RuleManagerBootstrap     Rule = "manager-bootstrap"
	RuleManagerAdmit         Rule = "manager-admit"
	RuleManagerClose         Rule = "manager-close"
	RuleMaintainerResponse   Rule = "maintainer-response"
	RuleMaintainerBeat       Rule = "maintainer-heartbeat"
	RuleCheckpointWrite      Rule = "checkpoint-write"
)

// Claim is what an incoming message asserts about its sender.
type Claim struct {
	From  string // sending node
	Epoch uint64 // maintainer epoch carried by the message; 0 = unknown
}

// Decision is the outcome of one rule: the verdict plus what a log line needs.
type Decision struct {
	Rule       Rule
	Policy     Policy
	Verdict    Verdict
	LocalEpoch uint64
	LocalNode  string // recorded owner or bound node, if the rule has one
	Claim      Claim
	// Tombstone is set by ManagerClose when the receiver must record
	// Claim.Epoch as the changefeed's close tombstone (it only ever raises
	// the recorded one).
	Tombstone bool
	Reason    string
}

// Acts reports whether the receiver must act on the message.
func (d Decision) Acts() bool { return d.Verdict.Acts() }

// String formats the decision for a log line.
func (d Decision) String() string {
	return fmt.Sprintf("%s %s: %s (from=%s epoch=%d local=%d owner=%s policy=%s)",
		d.Rule, d.Verdict, d.Reason, d.Claim.From, d.Claim.Epoch, d.LocalEpoch, d.LocalNode, d.Policy)
}

func decide(r Rule, p Policy, v Verdict, local uint64, node string, c Claim, reason string) Decision {
	return Decision{Rule: r, Policy: p, Verdict: v, LocalEpoch: local, LocalNode: node, Claim: c, Reason: reason}
}

// exact compares a claim with a strict local epoch: equal epochs match; epoch
// 0 matches only a local 0 (compatibility, never a bypass).
func exact(local, claim uint64) (Verdict, string) {
	switch {
	case claim == local:
		return Accept, "epoch matches"
	case claim == 0:
		return RejectCompat, "epoch 0 while receiver is strict"
	case claim < local:
		return RejectStale, "older epoch"
	default:
		return RejectNewer, "newer epoch than local"
	}
}

// NextEpoch returns the epoch to persist before an ownership change: the
// candidate, but always strictly above the persisted one. ok is false on
// overflow. Both policies bump, so every generation is identifiable at the
// sink; only receivers differ.
func NextEpoch(candidate, persisted uint64) (next uint64, ok bool) {
	if persisted == ^uint64(0) {
		return 0, false
	}
	return max(candidate, persisted+1), true
}
