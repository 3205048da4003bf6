package reports

import (
	"fmt"
	"time"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/reports/result"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// failFixture is a hand-built result of an owner isolation with fencing off:
// the old owner keeps writing under epoch 1 after epoch 2 is granted, a
// dispatcher manager lets an old bootstrap take over, and lag recovers long
// after the heal.
func failFixture() *result.Result {
	return &result.Result{
		SchemaVersion: result.SchemaVersion,
		Scenario:      "owner-isolation",
		Seed:          42,
		Disclaimer:    result.Disclaimer,
		FencingMode:   "off",
		Changefeed:    "cf-orders",
		Timings:       result.Timings{Start: start, End: start.Add(time.Minute), DurationMs: 60_000},
		SLOs:          result.SLOs{LagMs: 1000, StableMs: 5000, RecoveryBoundMs: 10_000, AllowedZombieMs: 0},
		Faults: []result.Fault{{
			ID: "f1", Kind: "partition", TargetRole: "owner", TargetProcess: "n1",
			Inject: start.Add(15 * time.Second), InjectMs: 15_000, Healed: true, Heal: start.Add(30 * time.Second), HealMs: 30_000,
			Effective: true, PeakLagMs: 15_180,
			CatchUp: &result.CatchUp{BacklogAtInject: 40, BacklogAtHeal: 3_020, PeakBacklog: 3_950, PeakMs: 38_400, Drained: true,
				DrainMs: 22_000, DrainRowsPerSec: 337, IncomingRowsPerSec: 200, PipelineRowsPerSec: 1_450, ExpectedDrainMs: 2_378},
		}},
		Epochs: []result.Epoch{
			{Epoch: 1, Node: "n1", GrantedAt: start.Add(-5 * time.Second), GrantedMs: -5000},
			{Epoch: 2, Node: "n2", GrantedAt: start.Add(21 * time.Second), GrantedMs: 21_000},
		},
		Lag:     failLag(),
		Latency: result.Latency{Rows: 118_000, P50Ms: 12, P95Ms: 41, P99Ms: 97, MaxMs: 24_950, Excluded: 3_400},
		Recoveries: []result.Recovery{
			{FaultID: "f1", Anchor: "inject", AnchorMs: 15_000, Recovered: true, RecoveredMs: 52_000, DurationMs: 37_000,
				DeadlineMs: 60_000, PeakLagMs: 25_180, PeakMs: 40_000},
			{FaultID: "f1", Anchor: "heal", AnchorMs: 30_000, Judged: true, Recovered: true, RecoveredMs: 52_000, DurationMs: 22_000,
				DeadlineMs: 60_000, PeakLagMs: 25_180, PeakMs: 40_000},
		},
		StaleEpochs: []result.StaleEpoch{{
			Epoch: 1, Owner: "n1", SupersededBy: 2, SupersededMs: 21_000, Rows: 1234, Watermarks: 56, FirstMs: 21_010, LastMs: 38_500,
			WindowMs: 17_500, Writers: []result.NodeCount{{Node: "n1", Records: 1290}},
		}},
		StaleMessages: []result.StaleMessage{{
			AtMs: 31_000, Node: "n3", Role: "dispatcher-manager", MsgType: "bootstrap", MsgEpoch: 1, LocalEpoch: 2, GrantedEpoch: 2,
			Sender: "n1", Verdict: "TakeOver", LatenessMs: 10_000, Reason: "acted on epoch 1 below its own epoch 2",
		}},
		Swimlanes:  failSwimlanes(),
		Invariants: failInvariants(),
		Counters: result.Counters{
			Records: 123_556, Rows: 121_400, Watermarks: 2156, Partitions: 4, Keys: 5000, Changes: 121_400,
			Duplicates: 2100, DuplicatesBy: []result.GenCount{{Epoch: 2, Node: "n2", Records: 2100}},
			Replays: 1300, ReplaysBy: []result.GenCount{{Epoch: 2, Node: "n2", Records: 1300}},
			BeyondFinalWatermark: 12, StaleRows: 1234, StaleWatermarks: 56, StaleMessagesAccepted: 1,
		},
		Verdict: result.Verdict{Outcome: result.Fail, Violated: []string{result.LagRecovery, result.StaleGeneration}},
	}
}

// failLag samples a lag that is undefined for the first second, healthy
// until the fault at 15 s, climbs to 25 s, and is healthy again from 52 s.
func failLag() result.Lag {
	const step = 250
	var samples []result.LagSample
	var maxLag int64
	for t := int64(0); t <= 60_000; t += step {
		s := result.LagSample{TMs: t}
		switch {
		case t < 1000:
			s.Undefined = true
		case t < 15_000, t >= 52_000:
			s.LagMs = 180 + t%400
		default:
			s.LagMs = 180 + t - 15_000
			if t >= 40_000 {
				s.LagMs = 25_180 - (t-40_000)*2
			}
		}
		maxLag = max(maxLag, s.LagMs)
		samples = append(samples, s)
	}
	return result.Lag{StepMs: step, Samples: samples, FirstDefinedMs: 1000, MaxLagMs: maxLag,
		FinalLagMs: 180, FinalDefined: true, FinalWatermark: 463_850_000_000_000_000}
}

// failSwimlanes shows n1 writing under epoch 1 until the fault and again,
// stale, after epoch 2 was granted to n2.
func failSwimlanes() []result.Swimlane {
	return []result.Swimlane{
		{Node: "n1", Bars: []result.Bar{
			{Epoch: 1, StartMs: 0, EndMs: 15_000, Rows: 40_000, Watermarks: 600},
			{Epoch: 1, StartMs: 21_000, EndMs: 38_500, Rows: 1234, Watermarks: 56, Stale: 1290},
		}},
		{Node: "n2", Bars: []result.Bar{{Epoch: 2, StartMs: 21_000, EndMs: 60_000, Rows: 50_000, Watermarks: 1500}}},
		{Node: "n3", Bars: []result.Bar{
			{Epoch: 1, StartMs: 0, EndMs: 21_000, Rows: 20_000},
			{Epoch: 2, StartMs: 21_000, EndMs: 60_000, Rows: 10_166},
		}},
	}
}

// failInvariants fails lag recovery and stale generation, and passes the rest.
func failInvariants() []result.Invariant {
	return []result.Invariant{
		{Name: result.LagRecovery, Class: result.Liveness, Status: result.StatusFail, Violations: 1,
			Summary: "0 of 1 judged recoveries reached lag ≤ 1s for 5s within 10s",
			Examples: []result.Example{{Kind: "slow-recovery", AtMs: 30_000,
				Message: "fault f1: lag recovered 22s after heal, over the bound 10s (peak lag 25.18s)"}}},
		{Name: result.StaleGeneration, Class: result.Safety, Status: result.StatusFail, Violations: 1291,
			Summary: "1234 stale rows, 56 stale watermarks in 1 superseded epochs; 1 stale control messages accepted (allowed zombie window 0s)",
			Examples: []result.Example{
				{Kind: "zombie-writes", AtMs: 21_010, Message: "epoch 1 (owner n1) wrote 1234 rows and 56 watermarks for 17.5s after epoch 2 was granted (allowed 0s; writers n1=1290)"},
				{Kind: "accepted-message", AtMs: 31_000, Message: "dispatcher-manager on n3 accepted bootstrap from n1: acted on epoch 1 below its own epoch 2"},
			}},
		{Name: result.Completeness, Class: result.Safety, Status: result.StatusPass,
			Summary: "121400 upstream changes: 0 missing under the final watermark, 0 phantom rows, 2100 duplicates, 12 beyond the final watermark"},
		{Name: result.Order, Class: result.Safety, Status: result.StatusPass,
			Summary: "121400 rows over 5000 keys: 0 regressions; 1300 replayed rows after a generation change"},
		{Name: result.WatermarkHonesty, Class: result.Safety, Status: result.StatusPass,
			Summary: "2156 watermarks: 0 rows appended after a watermark covering them, 0 rows differing from upstream, 0 balance-sum violations"},
	}
}

// inconclusiveFixture is a short run whose only fault could not be verified,
// without a change log or an epoch history, whose sink was written in
// transactions.
func inconclusiveFixture() *result.Result {
	var samples []result.LagSample
	for t := int64(0); t <= 4000; t += 100 {
		samples = append(samples, result.LagSample{TMs: t, LagMs: 120 + t%300})
	}
	return &result.Result{
		SchemaVersion: result.SchemaVersion,
		Scenario:      "owner-kill",
		Seed:          7,
		Disclaimer:    result.Disclaimer,
		FencingMode:   "epoch",
		Timings:       result.Timings{Start: start, End: start.Add(4 * time.Second), DurationMs: 4000},
		SLOs:          result.SLOs{LagMs: 500, StableMs: 1000, AllowedZombieMs: 2000},
		Faults: []result.Fault{{ID: "k1", Kind: "kill", TargetRole: "owner", TargetProcess: "n2",
			Inject: start.Add(time.Second), InjectMs: 1000, PeakLagMs: 410}},
		Lag:        result.Lag{StepMs: 100, Samples: samples, FirstDefinedMs: 0, MaxLagMs: 410, FinalLagMs: 220, FinalDefined: true},
		Latency:    result.Latency{Rows: 800, P50Ms: 9, P95Ms: 20, P99Ms: 31, MaxMs: 44},
		Recoveries: []result.Recovery{{FaultID: "k1", Anchor: "inject", AnchorMs: 1000, Judged: true, Recovered: true, RecoveredMs: 1000, DeadlineMs: 4000, PeakLagMs: 410, PeakMs: 2900, WithinBound: true}},
		Swimlanes:  []result.Swimlane{{Node: "n1", Bars: []result.Bar{{Epoch: 0, StartMs: 0, EndMs: 4000, Rows: 800, Watermarks: 160}}}},
		// The killed writer's open transaction was aborted when its
		// successor's InitProducerId fenced it.
		SinkWriters: []result.SinkWriter{
			{ProducerID: 4000, Epoch: 0, Transactional: true, Attempted: 600, Visible: 560, Aborted: 40,
				FirstAppend: start.Add(20 * time.Millisecond), FirstMs: 20, LastAppend: start.Add(1200 * time.Millisecond), LastMs: 1200},
			{ProducerID: 4000, Epoch: 2, Transactional: true, Attempted: 400, Visible: 400,
				FirstAppend: start.Add(1350 * time.Millisecond), FirstMs: 1350, LastAppend: start.Add(3990 * time.Millisecond), LastMs: 3990},
		},
		Invariants: []result.Invariant{
			{Name: result.LagRecovery, Class: result.Liveness, Status: result.StatusPass, Summary: "1 of 1 judged recoveries reached lag ≤ 500ms for 1s within any time (no bound)"},
			{Name: result.StaleGeneration, Class: result.Safety, Status: result.StatusSkipped, Summary: "no epoch history"},
			{Name: result.Completeness, Class: result.Safety, Status: result.StatusSkipped, Summary: "no upstream change log"},
			{Name: result.Order, Class: result.Safety, Status: result.StatusPass, Summary: "800 rows over 40 keys: 0 regressions; 0 replayed rows after a generation change"},
			{Name: result.WatermarkHonesty, Class: result.Safety, Status: result.StatusPass, Summary: "160 watermarks: 0 rows appended after a watermark covering them, 0 rows differing from upstream, 0 balance-sum violations"},
		},
		Counters: result.Counters{Records: 960, Rows: 800, Watermarks: 160, Partitions: 2, Keys: 40, Attempted: 1000, Aborted: 40},
		Verdict: result.Verdict{Outcome: result.Inconclusive, Reasons: []string{
			"fault k1 (kill on n2) did not take effect",
			"environment: upstream restarted | twice",
		}},
	}
}

// changefeedsFixture is a run of three changefeeds whose first and third
// passed and whose second lost rows.
func changefeedsFixture() *result.Result {
	cf := func(name string, missing int64) *result.Result {
		r := inconclusiveFixture()
		r.Scenario, r.Changefeed, r.Faults[0].Effective = "owner-isolation-changefeeds", name, true
		r.Invariants[2] = result.Invariant{Name: result.Completeness, Class: result.Safety, Status: result.StatusPass,
			Summary: "800 upstream changes: 0 missing under the final watermark"}
		if missing > 0 {
			r.Invariants[2].Status, r.Invariants[2].Violations = result.StatusFail, missing
			r.Invariants[2].Summary = fmt.Sprintf("800 upstream changes: %d missing under the final watermark", missing)
		}
		r.Verdict = checker.Decide(r.Invariants, nil)
		return r
	}
	r := cf("cf1", 0)
	r.AddChangefeed("changefeeds/cf1.2", cf("cf1.2", 3), checker.Decide)
	r.AddChangefeed("changefeeds/cf1.3", cf("cf1.3", 0), checker.Decide)
	return r
}
