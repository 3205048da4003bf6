package checker

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/chaosrun/chaosrun/reports/result"
)

// epochIndex answers "which epoch was granted at t" and "when was e
// superseded" from the epoch history of one changefeed.
type epochIndex struct {
	// byTime is the history sorted by grant time (then epoch).
	byTime []EpochGrant
	// byEpoch is sorted by epoch descending; supMin[i] is the earliest grant
	// time (Unix ms) among byEpoch[:i+1] and supBy[i] the epoch granted then.
	byEpoch []EpochGrant
	supMin  []int64
	supBy   []uint64
}

func newEpochIndex(grants []EpochGrant, changefeed string) *epochIndex {
	x := &epochIndex{}
	for _, g := range grants {
		if changefeed == "" || g.Changefeed == "" || g.Changefeed == changefeed {
			x.byTime = append(x.byTime, g)
		}
	}
	slices.SortStableFunc(x.byTime, func(a, b EpochGrant) int {
		return cmp.Or(a.GrantedAt.Compare(b.GrantedAt), cmp.Compare(a.Epoch, b.Epoch))
	})
	x.byEpoch = slices.Clone(x.byTime)
	slices.SortStableFunc(x.byEpoch, func(a, b EpochGrant) int { return cmp.Compare(b.Epoch, a.Epoch) })
	for i, g := range x.byEpoch {
		t := g.GrantedAt.UnixMilli()
		if i == 0 || t < x.supMin[i-1] {
			x.supMin = append(x.supMin, t)
			x.supBy = append(x.supBy, g.Epoch)
		} else {
			x.supMin = append(x.supMin, x.supMin[i-1])
			x.supBy = append(x.supBy, x.supBy[i-1])
		}
	}
	return x
}

// empty reports whether there is no epoch history.
func (x *epochIndex) empty() bool { return len(x.byTime) == 0 }

// supersededAt returns when epoch e stopped being current: the earliest
// grant time (Unix ms) of any newer epoch, and that epoch. ok is false
// while e was never superseded.
func (x *epochIndex) supersededAt(e uint64) (atMs int64, by uint64, ok bool) {
	// The grants newer than e are a prefix of byEpoch.
	n := sort.Search(len(x.byEpoch), func(i int) bool { return x.byEpoch[i].Epoch <= e })
	if n == 0 {
		return 0, 0, false
	}
	return x.supMin[n-1], x.supBy[n-1], true
}

// grantedAt returns the newest epoch granted at or before t (Unix ms).
func (x *epochIndex) grantedAt(t int64) (uint64, bool) {
	var e uint64
	ok := false
	for _, g := range x.byTime {
		if g.GrantedAt.UnixMilli() > t {
			break
		}
		if !ok || g.Epoch > e {
			e, ok = g.Epoch, true
		}
	}
	return e, ok
}

// known reports whether e appears in the history.
func (x *epochIndex) known(e uint64) bool {
	return slices.ContainsFunc(x.byTime, func(g EpochGrant) bool { return g.Epoch == e })
}

// owner returns the node epoch e was first granted to.
func (x *epochIndex) owner(e uint64) string {
	for _, g := range x.byTime {
		if g.Epoch == e {
			return g.Node
		}
	}
	return ""
}

// StaleMessages finds the control messages of a superseded epoch that a
// receiver acted on: the message's epoch is below the receiver's own epoch,
// or below the epoch granted at the decision time per the epoch history.
// Each is classified (see Harmful and Effect): a harmful act, by a receiver
// that had already accepted a newer epoch, is judged with no tolerance; an
// uninformed one is listed. Times are relative to origin. The result is in
// decision-time order.
func StaleMessages(decisions []DecisionEntry, grants []EpochGrant, faults []FaultEvent, changefeed string, origin time.Time) []result.StaleMessage {
	return staleMessages(decisions, newEpochIndex(grants, changefeed), faults, changefeed, origin.UnixMilli())
}

// zombieClock is when a generation superseded at supMs (unix ms) could
// first learn of it: supMs, or the latest heal of a fault in force at supMs
// (a partitioned generation hears of its successor only after the heal). A
// fault never healed holds the clock at its inject: nothing is excused.
func zombieClock(faults []FaultEvent, supMs int64) int64 {
	clock := supMs
	for _, f := range faults {
		if !f.Effective || f.Heal.IsZero() {
			continue
		}
		in, heal := f.Inject.UnixMilli(), f.Heal.UnixMilli()
		if in <= supMs && supMs <= heal {
			clock = max(clock, heal)
		}
	}
	return clock
}

func staleMessages(decisions []DecisionEntry, idx *epochIndex, faults []FaultEvent, changefeed string, originMs int64) []result.StaleMessage {
	var out []result.StaleMessage
	for _, d := range decisions {
		if !d.Acted || (changefeed != "" && d.Changefeed != "" && d.Changefeed != changefeed) {
			continue
		}
		t := d.Time.UnixMilli()
		granted, _ := idx.grantedAt(t)
		harmful := Harmful(d)
		behind := d.MsgEpoch < granted
		if !harmful && !behind {
			continue
		}
		m := result.StaleMessage{
			AtMs: t - originMs, Node: d.Node, Role: d.Role, MsgType: d.MsgType,
			MsgEpoch: d.MsgEpoch, LocalEpoch: d.LocalEpoch, GrantedEpoch: granted,
			Sender: d.Sender, Verdict: d.Verdict, Effect: Effect(d.Role, d.MsgType), Harmful: harmful,
		}
		if supersededAt, by, ok := idx.supersededAt(d.MsgEpoch); ok && behind {
			m.LatenessMs = t - supersededAt
			m.Reason = fmt.Sprintf("acted on epoch %d %s after epoch %d was granted (%s after it could have learned); the receiver was still on epoch %d",
				d.MsgEpoch, fmtMs(m.LatenessMs), by, fmtMs(t-zombieClock(faults, supersededAt)), d.LocalEpoch)
		}
		if harmful {
			m.Reason = fmt.Sprintf("%s on epoch %d after accepting epoch %d", m.Effect, d.MsgEpoch, d.LocalEpoch)
		}
		m.Tolerated = !harmful
		out = append(out, m)
	}
	slices.SortStableFunc(out, func(a, b result.StaleMessage) int { return cmp.Compare(a.AtMs, b.AtMs) })
	return out
}

// fmtMs formats a millisecond duration the way reports print it.
func fmtMs(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).String()
}
