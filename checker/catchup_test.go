package checker

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/reports/result"
)

// TestCatchUp builds a flow by hand: 10 commits every 100 ms for 10 s,
// delivered at once except while a fault holds (3 s to 5 s), after which
// the pipeline delivers 40 per 100 ms until the backlog is gone. It checks
// the backlog at inject and heal, its peak, the drain and incoming rates,
// the pipeline's peak rate and the drain time that capacity allows.
func TestCatchUp(t *testing.T) {
	const start = 1_000_000
	f := newFlow()
	backlog := 0
	for b := int64(0); b < 100; b++ {
		ms := start + b*catchUpBucketMs
		for range 10 {
			f.commit(ms)
		}
		backlog += 10
		if b >= 30 && b < 50 { // the fault holds: nothing delivered
			continue
		}
		n := min(backlog, 40)
		for range n {
			f.deliver(ms)
		}
		backlog -= n
	}
	require.Zero(t, backlog)
	// 200 rows pile up; from the heal 30 net per bucket drain them in 7
	// buckets (the last one delivers 30), so lag recovers 700 ms after it.
	res := &result.Result{
		Faults:     []result.Fault{{ID: "f1", InjectMs: 3000, Healed: true, HealMs: 5000}},
		Recoveries: []result.Recovery{{FaultID: "f1", Anchor: "heal", AnchorMs: 5000, Recovered: true, RecoveredMs: 5700}},
	}
	f.catchUp(res, start, start+10_000)
	cu := res.Faults[0].CatchUp
	require.NotNil(t, cu)
	assert.Zero(t, cu.BacklogAtInject)
	assert.Equal(t, int64(200), cu.BacklogAtHeal, "two seconds of 100 rows/s, none delivered")
	assert.Equal(t, int64(200), cu.PeakBacklog)
	assert.Equal(t, int64(5000), cu.PeakMs, "the backlog peaks at the end of the last stalled bucket")
	assert.True(t, cu.Drained)
	assert.Equal(t, int64(700), cu.DrainMs)
	assert.InDelta(t, 270/0.7, cu.DrainRowsPerSec, 0.01, "six buckets of 40 and a last one of 30 over 700 ms")
	assert.InDelta(t, 100, cu.IncomingRowsPerSec, 0.01)
	assert.InDelta(t, 300, cu.PipelineRowsPerSec, 0.01, "the most delivered in one second: the 270 of the drain and 30 after it")
	assert.Equal(t, int64(1000), cu.ExpectedDrainMs, "200 rows at 300 - 100 rows/s")

	// A recovery before the peak (from the inject) does not end the drain.
	res.Faults[0].CatchUp = nil
	res.Recoveries = append(res.Recoveries, result.Recovery{FaultID: "f1", Anchor: "inject", AnchorMs: 3000, Recovered: true, RecoveredMs: 4500})
	f.catchUp(res, start, start+10_000)
	assert.Equal(t, int64(700), res.Faults[0].CatchUp.DrainMs, "from the peak at the heal to the heal's recovery")

	// A fault with no recovery still shows its backlog, but no drain.
	res = &result.Result{Faults: []result.Fault{{ID: "f2", InjectMs: 3000, Healed: true, HealMs: 5000}}}
	f.catchUp(res, start, start+10_000)
	cu = res.Faults[0].CatchUp
	assert.Equal(t, int64(200), cu.BacklogAtHeal)
	assert.False(t, cu.Drained)
	assert.Zero(t, cu.DrainRowsPerSec)
}

// TestRecoveryBoundAllowsTheDrain holds recoveries to the bound plus the
// drain their fault's backlog needs: 1.3 s against a 1 s bound passes with
// a 0.5 s drain allowance and fails without one (no catch-up measured, or
// a backlog that needs only 0.2 s); an unjudged anchor gets no violation.
func TestRecoveryBoundAllowsTheDrain(t *testing.T) {
	res := &result.Result{
		SLOs: result.SLOs{LagMs: 1000, StableMs: 500, RecoveryBoundMs: 1000},
		Faults: []result.Fault{
			{ID: "drain", CatchUp: &result.CatchUp{ExpectedDrainMs: 500}},
			{ID: "small", CatchUp: &result.CatchUp{ExpectedDrainMs: 200}},
			{ID: "unmeasured"},
		},
	}
	for _, id := range []string{"drain", "small", "unmeasured"} {
		res.Recoveries = append(res.Recoveries,
			result.Recovery{FaultID: id, Anchor: "inject", Recovered: true, DurationMs: 5000},
			result.Recovery{FaultID: id, Anchor: "heal", Judged: true, Recovered: true, DurationMs: 1300})
	}
	l := newLagRecovery(10)
	l.judge(res, 0)
	within := map[string]bool{}
	for _, r := range res.Recoveries {
		if r.Judged {
			within[r.FaultID] = r.WithinBound
		}
	}
	assert.Equal(t, map[string]bool{"drain": true, "small": false, "unmeasured": false}, within)
	assert.Equal(t, int64(500), res.Recoveries[1].DrainAllowanceMs)
	require.Equal(t, int64(2), l.violations.count, "the two judged misses, not the unjudged failovers")
	assert.Contains(t, l.violations.examples[0].message, "over the bound 1.2s (1s + drain allowance 200ms")

	// Without a bound there is nothing to allow.
	res.SLOs.RecoveryBoundMs = 0
	l = newLagRecovery(10)
	l.judge(res, 0)
	assert.Zero(t, l.violations.count)
	assert.Zero(t, res.Recoveries[1].DrainAllowanceMs)
}
