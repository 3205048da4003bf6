package fencing

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The exhaustive tables below cover, for every rule, the claim epoch
// {lower, equal, higher, zero} relative to a local epoch of 5, times the
// sender's relation to the local owner, times the policy. Every expected
// verdict is written out by hand; nothing is recomputed with the rule's own
// logic. requireExhaustive fails if a table misses or repeats a combination.

const local = 5 // the receiver's epoch in every table row

//go:generate stringer -type=rel,own -output=enums_string_test.go

// rel is the claim epoch relative to local.
type rel int

const (
	lower  rel = iota // 3
	equal             // 5
	higher            // 7
	zero              // 0: the compatibility value
)

var rels = []rel{lower, equal, higher, zero}

func (r rel) epoch() uint64 { return [...]uint64{3, 5, 7, 0}[r] }

// own is the sender's relation to the local owner (recorded maintainer node,
// bound node or operator destination). Rules without an owner use the
// sender-free rows and are checked against every sender.
type own int

const (
	same     own = iota // the claim comes from the recorded owner "n1"
	other               // the claim comes from "n2" while "n1" is recorded
	none                // nothing is recorded (no manager, no bound node...)
	tomb                // no manager, but a close tombstone at epoch 5
	anyOwner            // rules without an owner: every sender
)

var policies = []Policy{Epoch, Off}

type row struct {
	p    Policy
	e    rel
	o    own
	want Verdict
}

func (r row) name() string { return fmt.Sprintf("%s/%s/%s", r.p, r.e, r.o) }

// requireExhaustive checks that rows hold every (policy, epoch, owner) of
// owners exactly once.
func requireExhaustive(t *testing.T, rows []row, owners ...own) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range rows {
		seen[r.name()]++
	}
	for _, p := range policies {
		for _, e := range rels {
			for _, o := range owners {
				k := row{p: p, e: e, o: o}.name()
				require.Equalf(t, 1, seen[k], "table must hold %s exactly once", k)
				delete(seen, k)
			}
		}
	}
	require.Empty(t, seen, "rows outside the product")
}

// checkCommon asserts the fields every decision must carry for a log line.
func checkCommon(t *testing.T, d Decision, rule Rule, p Policy, c Claim) {
	t.Helper()
	assert.Equal(t, rule, d.Rule)
	assert.Equal(t, p, d.Policy)
	assert.Equal(t, c, d.Claim)
	assert.NotEmpty(t, d.Reason)
	assert.Equal(t, d.Verdict.Acts(), d.Acts())
}

// senders maps an owner relation to the claim's sender for rules that
// record the owner "n1".
func sender(o own) string {
	if o == other {
		return "n2"
	}
	return "n1"
}

func TestCoordinatorStatusTable(t *testing.T) {
	rows := []row{
		{Epoch, lower, same, RejectStale},
		{Epoch, equal, same, Accept},
		{Epoch, higher, same, RejectNewer},
		{Epoch, zero, same, RejectCompat},
		{Epoch, lower, other, RejectSender},
		{Epoch, equal, other, RejectSender},
		{Epoch, higher, other, RejectSender},
		{Epoch, zero, other, RejectSender},
		{Epoch, lower, none, RejectUnknown},
		{Epoch, equal, none, RejectUnknown},
		{Epoch, higher, none, RejectUnknown},
		{Epoch, zero, none, RejectUnknown},

		// Off: no epoch check, but the pre-fix node check stays.
		{Off, lower, same, Accept},
		{Off, equal, same, Accept},
		{Off, higher, same, Accept},
		{Off, zero, same, Accept},
		{Off, lower, other, RejectSender},
		{Off, equal, other, RejectSender},
		{Off, higher, other, RejectSender},
		{Off, zero, other, RejectSender},
		{Off, lower, none, RejectUnknown},
		{Off, equal, none, RejectUnknown},
		{Off, higher, none, RejectUnknown},
		{Off, zero, none, RejectUnknown},
	}
	requireExhaustive(t, rows, same, other, none)
	for _, r := range rows {
		t.Run(r.name(), func(t *testing.T) {
			bound := "n1"
			if r.o == none {
				bound = ""
			}
			c := Claim{From: sender(r.o), Epoch: r.e.epoch()}
			d := CoordinatorStatus(r.p, local, bound, c)
			checkCommon(t, d, RuleCoordinatorStatus, r.p, c)
			assert.Equal(t, r.want, d.Verdict)
			assert.Equal(t, uint64(local), d.LocalEpoch)
			assert.Equal(t, bound, d.LocalNode)
		})
	}
}

func TestOperatorCheckTable(t *testing.T) {
	rows := []row{
		{Epoch, lower, same, RejectStale},
		{Epoch, equal, same, Accept},
		{Epoch, higher, same, RejectNewer},
		{Epoch, zero, same, RejectCompat},
		{Epoch, lower, other, RejectSender},
		{Epoch, equal, other, RejectSender},
		{Epoch, higher, other, RejectSender},
		{Epoch, zero, other, RejectSender},
		{Epoch, lower, none, RejectUnknown},
		{Epoch, equal, none, RejectUnknown},
		{Epoch, higher, none, RejectUnknown},
		{Epoch, zero, none, RejectUnknown},

		{Off, lower, same, Accept},
		{Off, equal, same, Accept},
		{Off, higher, same, Accept},
		{Off, zero, same, Accept},
		{Off, lower, other, RejectSender},
		{Off, equal, other, RejectSender},
		{Off, higher, other, RejectSender},
		{Off, zero, other, RejectSender},
		{Off, lower, none, RejectUnknown},
		{Off, equal, none, RejectUnknown},
		{Off, higher, none, RejectUnknown},
		{Off, zero, none, RejectUnknown},
	}
	requireExhaustive(t, rows, same, other, none)
	for _, r := range rows {
		t.Run(r.name(), func(t *testing.T) {
			dest := "n1"
			if r.o == none {
				dest = ""
			}
			c := Claim{From: sender(r.o), Epoch: r.e.epoch()}
			d := OperatorCheck(r.p, local, dest, c)
			checkCommon(t, d, RuleOperatorCheck, r.p, c)
			assert.Equal(t, r.want, d.Verdict)
			assert.Equal(t, uint64(local), d.LocalEpoch)
			assert.Equal(t, dest, d.LocalNode)
		})
	}
}

// strictRows is the table of every rule that compares the claim with one
// local epoch and has no owner: the sender must not matter.
var strictRows = []row{
	{Epoch, lower, anyOwner, RejectStale},
	{Epoch, equal, anyOwner, Accept},
	{Epoch, higher, anyOwner, RejectNewer},
	{Epoch, zero, anyOwner, RejectCompat},
	{Off, lower, anyOwner, Accept},
	{Off, equal, anyOwner, Accept},
	{Off, higher, anyOwner, Accept},
	{Off, zero, anyOwner, Accept},
}

// everySender is the sender column for rules without an owner.
var everySender = map[own]string{same: "n1", other: "n2", none: ""}

func TestSenderFreeRulesTable(t *testing.T) {
	requireExhaustive(t, strictRows, anyOwner)
	rules := map[Rule]func(Policy, uint64, Claim) Decision{
		RuleMaintainerRemove:     MaintainerRemove,
		RuleMaintainerResponse:   MaintainerResponse,
		RuleMaintainerBeat:       MaintainerHeartbeat,
		RuleCoordinatorBootstrap: CoordinatorBootstrap,
	}
	for rule, fn := range rules {
		for _, r := range strictRows {
			for o, from := range everySender {
				t.Run(fmt.Sprintf("%s/%s/%s/%s", rule, r.p, r.e, o), func(t *testing.T) {
					c := Claim{From: from, Epoch: r.e.epoch()}
					d := fn(r.p, local, c)
					checkCommon(t, d, rule, r.p, c)
					assert.Equal(t, r.want, d.Verdict)
					assert.Equal(t, uint64(local), d.LocalEpoch)
					assert.Empty(t, d.LocalNode)
				})
			}
		}
	}
}

// TestSenderFreeRulesCompat covers a receiver that is itself at epoch 0.
func TestSenderFreeRulesCompat(t *testing.T) {
	rules := map[Rule]func(Policy, uint64, Claim) Decision{
		RuleMaintainerRemove:     MaintainerRemove,
		RuleMaintainerResponse:   MaintainerResponse,
		RuleMaintainerBeat:       MaintainerHeartbeat,
		RuleCoordinatorBootstrap: CoordinatorBootstrap,
	}
	cases := []struct {
		p     Policy
		claim uint64
		want  Verdict
	}{
		{Epoch, 0, Accept},      // both in compatibility mode
		{Epoch, 5, RejectNewer}, // a strict claim does not match a compat receiver
		{Off, 0, Accept},
		{Off, 5, Accept},
	}
	for rule, fn := range rules {
		for _, tc := range cases {
			d := fn(tc.p, 0, Claim{From: "n1", Epoch: tc.claim})
			assert.Equalf(t, tc.want, d.Verdict, "%s %s claim=%d", rule, tc.p, tc.claim)
		}
	}
}

func TestManagerAddTable(t *testing.T) {
	// For the add rule the "owner" is the local maintainer: same = a live
	// maintainer, other = a fully stopped one, none = no maintainer.
	const live, stopped = same, other
	rows := []row{
		{Epoch, lower, live, RejectStale},
		{Epoch, equal, live, Duplicate},
		{Epoch, higher, live, Blocked},
		{Epoch, zero, live, RejectCompat},
		{Epoch, lower, stopped, RejectStale},
		{Epoch, equal, stopped, Duplicate},
		{Epoch, higher, stopped, TakeOver},
		{Epoch, zero, stopped, RejectCompat},
		{Epoch, lower, none, Accept},
		{Epoch, equal, none, Accept},
		{Epoch, higher, none, Accept},
		{Epoch, zero, none, Accept},

		// Off: ignored if any maintainer exists.
		{Off, lower, live, Duplicate},
		{Off, equal, live, Duplicate},
		{Off, higher, live, Duplicate},
		{Off, zero, live, Duplicate},
		{Off, lower, stopped, Duplicate},
		{Off, equal, stopped, Duplicate},
		{Off, higher, stopped, Duplicate},
		{Off, zero, stopped, Duplicate},
		{Off, lower, none, Accept},
		{Off, equal, none, Accept},
		{Off, higher, none, Accept},
		{Off, zero, none, Accept},
	}
	requireExhaustive(t, rows, live, stopped, none)
	for _, r := range rows {
		t.Run(r.name(), func(t *testing.T) {
			var e Existing
			switch r.o {
			case live:
				e = Existing{Present: true, Epoch: local}
			case stopped:
				e = Existing{Present: true, Epoch: local, Stopped: true}
			}
			c := Claim{From: "coord", Epoch: r.e.epoch()}
			d := ManagerAdd(r.p, e, c)
			checkCommon(t, d, RuleManagerAdd, r.p, c)
			assert.Equal(t, r.want, d.Verdict)
			assert.Equal(t, e.Epoch, d.LocalEpoch)
		})
	}
}

func TestManagerAddCompat(t *testing.T) {
	cases := []struct {
		name  string
		e     Existing
		claim uint64
		want  Verdict
	}{
		{"live compat, 0 again", Existing{Present: true}, 0, Duplicate},
		{"live compat, strict add waits", Existing{Present: true}, 5, Blocked},
		{"stopped compat, 0 never replaces", Existing{Present: true, Stopped: true}, 0, Duplicate},
		{"stopped compat, any strict epoch replaces", Existing{Present: true, Stopped: true}, 1, TakeOver},
		{"absurd epoch on a stopped maintainer", Existing{Present: true, Epoch: 5, Stopped: true}, ^uint64(0), TakeOver},
	}
	for _, tc := range cases {
		d := ManagerAdd(Epoch, tc.e, Claim{From: "coord", Epoch: tc.claim})
		assert.Equal(t, tc.want, d.Verdict, tc.name)
	}
}

// ownerFor builds a dispatcher manager's record for an owner relation: the
// recorded owner is n1 at epoch 5, or no manager, or no manager with a close
// tombstone at epoch 5.
func ownerFor(o own) Owner {
	switch o {
	case none:
		return Owner{}
	case tomb:
		return Owner{Closed: true, ClosedEpoch: local}
	default:
		return Owner{Present: true, Node: "n1", Epoch: local}
	}
}

func TestManagerBootstrapTable(t *testing.T) {
	rows := []row{
		{Epoch, lower, same, RejectStale},
		{Epoch, equal, same, Duplicate},
		{Epoch, higher, same, TakeOver},
		{Epoch, zero, same, RejectCompat},
		{Epoch, lower, other, RejectStale},
		{Epoch, equal, other, RejectSender},
		{Epoch, higher, other, TakeOver},
		{Epoch, zero, other, RejectCompat},
		{Epoch, lower, none, TakeOver},
		{Epoch, equal, none, TakeOver},
		{Epoch, higher, none, TakeOver},
		{Epoch, zero, none, TakeOver},
		{Epoch, lower, tomb, RejectTombstone},
		{Epoch, equal, tomb, RejectTombstone},
		{Epoch, higher, tomb, TakeOver},
		{Epoch, zero, tomb, RejectTombstone},

		// Off: a bootstrap always overwrites the owner (and resurrects).
		{Off, lower, same, TakeOver},
		{Off, equal, same, TakeOver},
		{Off, higher, same, TakeOver},
		{Off, zero, same, TakeOver},
		{Off, lower, other, TakeOver},
		{Off, equal, other, TakeOver},
		{Off, higher, other, TakeOver},
		{Off, zero, other, TakeOver},
		{Off, lower, none, TakeOver},
		{Off, equal, none, TakeOver},
		{Off, higher, none, TakeOver},
		{Off, zero, none, TakeOver},
		{Off, lower, tomb, TakeOver},
		{Off, equal, tomb, TakeOver},
		{Off, higher, tomb, TakeOver},
		{Off, zero, tomb, TakeOver},
	}
	requireExhaustive(t, rows, same, other, none, tomb)
	for _, r := range rows {
		t.Run(r.name(), func(t *testing.T) {
			o := ownerFor(r.o)
			c := Claim{From: sender(r.o), Epoch: r.e.epoch()}
			d := ManagerBootstrap(r.p, o, c)
			checkCommon(t, d, RuleManagerBootstrap, r.p, c)
			assert.Equal(t, r.want, d.Verdict)
			assert.Equal(t, o.Node, d.LocalNode)
			assert.False(t, d.Tombstone)
		})
	}
}

func TestManagerBootstrapCompat(t *testing.T) {
	compat := Owner{Present: true, Node: "n1"}
	cases := []struct {
		name string
		o    Owner
		c    Claim
		want Verdict
	}{
		{"compat manager, 0 from owner", compat, Claim{From: "n1"}, TakeOver},
		{"compat manager, 0 from another node", compat, Claim{From: "n2"}, TakeOver},
		{"compat manager becomes strict", compat, Claim{From: "n2", Epoch: 1}, TakeOver},
		{"tombstone 0 after a removed compat close blocks 0", Owner{Closed: true}, Claim{From: "n1"}, RejectTombstone},
		{"tombstone 0 lets a strict epoch in", Owner{Closed: true}, Claim{From: "n1", Epoch: 1}, TakeOver},
		{"tombstone is ignored while a manager exists", Owner{Present: true, Node: "n1", Epoch: 7, Closed: true, ClosedEpoch: 5}, Claim{From: "n1", Epoch: 7}, Duplicate},
	}
	for _, tc := range cases {
		d := ManagerBootstrap(Epoch, tc.o, tc.c)
		assert.Equal(t, tc.want, d.Verdict, tc.name)
	}
}

func TestManagerAdmitTable(t *testing.T) {
	rows := []row{
		{Epoch, lower, same, RejectStale},
		{Epoch, equal, same, Accept},
		{Epoch, higher, same, RejectNewer},
		{Epoch, zero, same, RejectCompat},
		{Epoch, lower, other, RejectStale},
		{Epoch, equal, other, RejectSender},
		{Epoch, higher, other, RejectNewer},
		{Epoch, zero, other, RejectCompat},
		{Epoch, lower, none, RejectUnknown},
		{Epoch, equal, none, RejectUnknown},
		{Epoch, higher, none, RejectUnknown},
		{Epoch, zero, none, RejectUnknown},
		{Epoch, lower, tomb, RejectUnknown},
		{Epoch, equal, tomb, RejectUnknown},
		{Epoch, higher, tomb, RejectUnknown},
		{Epoch, zero, tomb, RejectUnknown},

		// Off: applied whenever a manager exists.
		{Off, lower, same, Accept},
		{Off, equal, same, Accept},
		{Off, higher, same, Accept},
		{Off, zero, same, Accept},
		{Off, lower, other, Accept},
		{Off, equal, other, Accept},
		{Off, higher, other, Accept},
		{Off, zero, other, Accept},
		{Off, lower, none, RejectUnknown},
		{Off, equal, none, RejectUnknown},
		{Off, higher, none, RejectUnknown},
		{Off, zero, none, RejectUnknown},
		{Off, lower, tomb, RejectUnknown},
		{Off, equal, tomb, RejectUnknown},
		{Off, higher, tomb, RejectUnknown},
		{Off, zero, tomb, RejectUnknown},
	}
	requireExhaustive(t, rows, same, other, none, tomb)
	for _, r := range rows {
		t.Run(r.name(), func(t *testing.T) {
			o := ownerFor(r.o)
			c := Claim{From: sender(r.o), Epoch: r.e.epoch()}
			d := ManagerAdmit(r.p, o, c)
			checkCommon(t, d, RuleManagerAdmit, r.p, c)
			assert.Equal(t, r.want, d.Verdict)
			assert.Equal(t, o.Epoch, d.LocalEpoch)
			assert.Equal(t, o.Node, d.LocalNode)
		})
	}
}

func TestManagerAdmitCompat(t *testing.T) {
	cases := []struct {
		name string
		o    Owner
		c    Claim
		want Verdict
	}{
		{"compat manager, 0 from owner", Owner{Present: true, Node: "n1"}, Claim{From: "n1"}, Accept},
		{"compat manager, 0 from another node", Owner{Present: true, Node: "n1"}, Claim{From: "n2"}, RejectSender},
		{"compat manager with no owner, 0 from anyone", Owner{Present: true}, Claim{From: "n2"}, Accept},
		{"compat manager, strict claim", Owner{Present: true, Node: "n1"}, Claim{From: "n1", Epoch: 5}, RejectNewer},
	}
	for _, tc := range cases {
		d := ManagerAdmit(Epoch, tc.o, tc.c)
		assert.Equal(t, tc.want, d.Verdict, tc.name)
	}
}

// closeRow is a row of the close table: the verdict and whether the close
// must be remembered.
type closeRow struct {
	row
	removed bool
	tomb    bool
}

// The close table's two booleans: whether the close removes the
// changefeed, and whether the receiver must remember it as a tombstone.
const (
	plain, removing  = false, true
	forget, remember = false, true
)

// closeRows is the close table: every relation, owner and policy, for a
// plain and a removing close.
var closeRows = []closeRow{
	{row{Epoch, lower, same, AckWithoutActing}, plain, forget},
	{row{Epoch, equal, same, Accept}, plain, remember},
	{row{Epoch, higher, same, AckWithoutActing}, plain, forget},
	{row{Epoch, zero, same, AckWithoutActing}, plain, forget},
	{row{Epoch, lower, other, AckWithoutActing}, plain, forget},
	{row{Epoch, equal, other, AckWithoutActing}, plain, forget},
	{row{Epoch, higher, other, AckWithoutActing}, plain, forget},
	{row{Epoch, zero, other, AckWithoutActing}, plain, forget},
	// No manager: acknowledge, and remember the close so that a delayed
	// bootstrap of that generation cannot create one (0 has no order).
	{row{Epoch, lower, none, AckWithoutActing}, plain, remember},
	{row{Epoch, equal, none, AckWithoutActing}, plain, remember},
	{row{Epoch, higher, none, AckWithoutActing}, plain, remember},
	{row{Epoch, zero, none, AckWithoutActing}, plain, forget},
	// A tombstone at 5 only ever moves up.
	{row{Epoch, lower, tomb, AckWithoutActing}, plain, forget},
	{row{Epoch, equal, tomb, AckWithoutActing}, plain, forget},
	{row{Epoch, higher, tomb, AckWithoutActing}, plain, remember},
	{row{Epoch, zero, tomb, AckWithoutActing}, plain, forget},

	{row{Epoch, lower, same, AckWithoutActing}, removing, forget},
	{row{Epoch, equal, same, Accept}, removing, remember},
	{row{Epoch, higher, same, AckWithoutActing}, removing, forget},
	{row{Epoch, zero, same, AckWithoutActing}, removing, forget},
	{row{Epoch, lower, other, AckWithoutActing}, removing, forget},
	{row{Epoch, equal, other, AckWithoutActing}, removing, forget},
	{row{Epoch, higher, other, AckWithoutActing}, removing, forget},
	{row{Epoch, zero, other, AckWithoutActing}, removing, forget},
	{row{Epoch, lower, none, AckWithoutActing}, removing, remember},
	{row{Epoch, equal, none, AckWithoutActing}, removing, remember},
	{row{Epoch, higher, none, AckWithoutActing}, removing, remember},
	{row{Epoch, zero, none, AckWithoutActing}, removing, remember},
	{row{Epoch, lower, tomb, AckWithoutActing}, removing, forget},
	{row{Epoch, equal, tomb, AckWithoutActing}, removing, forget},
	{row{Epoch, higher, tomb, AckWithoutActing}, removing, remember},
	{row{Epoch, zero, tomb, AckWithoutActing}, removing, forget},

	// Off: a close always closes; nothing is remembered.
	{row{Off, lower, same, Accept}, plain, forget},
	{row{Off, equal, same, Accept}, plain, forget},
	{row{Off, higher, same, Accept}, plain, forget},
	{row{Off, zero, same, Accept}, plain, forget},
	{row{Off, lower, other, Accept}, plain, forget},
	{row{Off, equal, other, Accept}, plain, forget},
	{row{Off, higher, other, Accept}, plain, forget},
	{row{Off, zero, other, Accept}, plain, forget},
	{row{Off, lower, none, AckWithoutActing}, plain, forget},
	{row{Off, equal, none, AckWithoutActing}, plain, forget},
	{row{Off, higher, none, AckWithoutActing}, plain, forget},
	{row{Off, zero, none, AckWithoutActing}, plain, forget},
	{row{Off, lower, tomb, AckWithoutActing}, plain, forget},
	{row{Off, equal, tomb, AckWithoutActing}, plain, forget},
	{row{Off, higher, tomb, AckWithoutActing}, plain, forget},
	{row{Off, zero, tomb, AckWithoutActing}, plain, forget},

	{row{Off, lower, same, Accept}, removing, forget},
	{row{Off, equal, same, Accept}, removing, forget},
	{row{Off, higher, same, Accept}, removing, forget},
	{row{Off, zero, same, Accept}, removing, forget},
	{row{Off, lower, other, Accept}, removing, forget},
	{row{Off, equal, other, Accept}, removing, forget},
	{row{Off, higher, other, Accept}, removing, forget},
	{row{Off, zero, other, Accept}, removing, forget},
	{row{Off, lower, none, AckWithoutActing}, removing, forget},
	{row{Off, equal, none, AckWithoutActing}, removing, forget},
	{row{Off, higher, none, AckWithoutActing}, removing, forget},
	{row{Off, zero, none, AckWithoutActing}, removing, forget},
	{row{Off, lower, tomb, AckWithoutActing}, removing, forget},
	{row{Off, equal, tomb, AckWithoutActing}, removing, forget},
	{row{Off, higher, tomb, AckWithoutActing}, removing, forget},
	{row{Off, zero, tomb, AckWithoutActing}, removing, forget},
}

func TestManagerCloseTable(t *testing.T) {
	for _, removed := range []bool{false, true} {
		var plain []row
		for _, r := range closeRows {
			if r.removed == removed {
				plain = append(plain, r.row)
			}
		}
		requireExhaustive(t, plain, same, other, none, tomb)
	}
	for _, r := range closeRows {
		t.Run(fmt.Sprintf("%s/removed=%t", r.name(), r.removed), func(t *testing.T) {
			o := ownerFor(r.o)
			c := Claim{From: sender(r.o), Epoch: r.e.epoch()}
			d := ManagerClose(r.p, o, c, r.removed)
			checkCommon(t, d, RuleManagerClose, r.p, c)
			assert.Equal(t, r.want, d.Verdict)
			assert.Equal(t, r.tomb, d.Tombstone, "tombstone")
		})
	}
}

func TestManagerCloseCompat(t *testing.T) {
	compat := Owner{Present: true, Node: "n1"}
	cases := []struct {
		name    string
		o       Owner
		c       Claim
		removed bool
		want    Verdict
		tomb    bool
	}{
		{"compat close closes without a tombstone", compat, Claim{From: "n1"}, false, Accept, false},
		{"compat removed close leaves tombstone 0", compat, Claim{From: "n1"}, true, Accept, true},
		{"compat close from another node is acked", compat, Claim{From: "n2"}, false, AckWithoutActing, false},
		{"strict close on a compat manager is acked", compat, Claim{From: "n1", Epoch: 5}, false, AckWithoutActing, false},
		{"removed 0 over tombstone 0 changes nothing", Owner{Closed: true}, Claim{From: "n1"}, true, AckWithoutActing, false},
	}
	for _, tc := range cases {
		d := ManagerClose(Epoch, tc.o, tc.c, tc.removed)
		assert.Equal(t, tc.want, d.Verdict, tc.name)
		assert.Equal(t, tc.tomb, d.Tombstone, tc.name)
	}
}

func TestCheckpointWriteTable(t *testing.T) {
	// The claim is the owner-key revision the writer won at ({3,5,7,0});
	// the "owner" is the owner key now: same = still at revision 5, other =
	// re-created at revision 9 by a new coordinator, none = no owner key.
	current := map[own]int64{same: 5, other: 9, none: 0}
	rows := []row{
		{Epoch, lower, same, RejectStale},
		{Epoch, equal, same, Accept},
		{Epoch, higher, same, RejectStale},
		{Epoch, zero, same, RejectUnknown},
		{Epoch, lower, other, RejectStale},
		{Epoch, equal, other, RejectStale},
		{Epoch, higher, other, RejectStale},
		{Epoch, zero, other, RejectUnknown},
		{Epoch, lower, none, RejectStale},
		{Epoch, equal, none, RejectStale},
		{Epoch, higher, none, RejectStale},
		{Epoch, zero, none, RejectUnknown},

		{Off, lower, same, Accept},
		{Off, equal, same, Accept},
		{Off, higher, same, Accept},
		{Off, zero, same, Accept},
		{Off, lower, other, Accept},
		{Off, equal, other, Accept},
		{Off, higher, other, Accept},
		{Off, zero, other, Accept},
		{Off, lower, none, Accept},
		{Off, equal, none, Accept},
		{Off, higher, none, Accept},
		{Off, zero, none, Accept},
	}
	requireExhaustive(t, rows, same, other, none)
	for _, r := range rows {
		t.Run(r.name(), func(t *testing.T) {
			held := int64(r.e.epoch())
			d := CheckpointWrite(r.p, held, current[r.o])
			checkCommon(t, d, RuleCheckpointWrite, r.p, Claim{Epoch: uint64(held)})
			assert.Equal(t, r.want, d.Verdict)
			assert.Equal(t, uint64(current[r.o]), d.LocalEpoch)
		})
	}
	// Negative revisions are garbage: they clamp to 0 and never pass.
	d := CheckpointWrite(Epoch, -1, -1)
	assert.Equal(t, RejectUnknown, d.Verdict)
	assert.Equal(t, Claim{}, d.Claim)
	assert.Zero(t, d.LocalEpoch)

	assert.True(t, GuardCheckpointWrite(Epoch))
	assert.False(t, GuardCheckpointWrite(Off))
}

func TestNextEpoch(t *testing.T) {
	const maxU = ^uint64(0)
	cases := []struct {
		candidate, persisted uint64
		next                 uint64
		ok                   bool
	}{
		{0, 0, 1, true},       // first epoch
		{100, 5, 100, true},   // a fresh TSO above the persisted one
		{5, 5, 6, true},       // a candidate that did not move
		{3, 5, 6, true},       // a candidate behind the persisted one (clock skew)
		{maxU, 5, maxU, true}, // the largest epoch is still usable once
		{0, maxU - 1, maxU, true},
		{maxU, maxU, 0, false}, // overflow: no epoch is left
		{0, maxU, 0, false},
	}
	for _, tc := range cases {
		next, ok := NextEpoch(tc.candidate, tc.persisted)
		assert.Equalf(t, tc.ok, ok, "NextEpoch(%d, %d)", tc.candidate, tc.persisted)
		assert.Equalf(t, tc.next, next, "NextEpoch(%d, %d)", tc.candidate, tc.persisted)
	}
}
