package scenario_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/scenario"
)

// BenchmarkFailoverScale runs owner-isolation (fencing on, netns) with 2,
// 20, 200 and 2,000 dispatchers — one changefeed of that many tables, and
// 200 and 2,000 as 4 changefeeds of 50 and 500 tables, so that the cut also
// moves the owner's maintainers (each changefeed replicates every table, so
// 4 changefeeds also carry 4 times the rows) — judged at lag L = 1 s. At
// 16 changefeeds of 125 tables the lag on two cores hovers around 1 s:
// one run in three never held it under 1 s for 5 s within the steady
// gate's minute (inconclusive), so that size is left out. It reports for each size
// the failover (inject → lag ≤ 1 s for 5 s, while the owner is still cut
// off: a new owner elected after the TTL bootstraps every dispatcher
// again), the reintegration (heal → lag ≤ 1 s), each the slowest
// changefeed's, the failover as a ratio of TTL + 2 s (≤ 1 meets the bar),
// the peak backlog, and the run's verdict (1 pass: every changefeed
// passed).
//
//	go test -run '^$' -bench BenchmarkFailoverScale -benchtime 1x -timeout 30m ./scenario/
func BenchmarkFailoverScale(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the netns backend needs root")
	}
	bin := e2e(b)
	for _, size := range []struct{ changefeeds, tables int }{{1, 2}, {1, 20}, {1, 200}, {1, 2000}, {4, 50}, {4, 500}} {
		name := fmt.Sprintf("dispatchers=%d", size.changefeeds*size.tables)
		if size.changefeeds > 1 {
			name += fmt.Sprintf("-changefeeds=%d", size.changefeeds)
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				res := runAtScale(b, bin, size.changefeeds, size.tables)
				ttl := res.ttl
				fo, re := slowestRecovery(b, res, "inject"), slowestRecovery(b, res, "heal")
				b.ReportMetric(fo.Seconds(), "failover-s")
				b.ReportMetric(re.Seconds(), "reintegration-s")
				b.ReportMetric(fo.Seconds()/(ttl+2*time.Second).Seconds(), "failover/(ttl+2s)")
				var peak int64
				for _, f := range res.Result.Faults {
					if f.CatchUp != nil {
						peak = max(peak, f.CatchUp.PeakBacklog)
					}
				}
				b.ReportMetric(float64(peak), "peak-backlog-rows")
				pass := 0.0
				if res.Verdict.Outcome == result.Pass {
					pass = 1
				}
				b.ReportMetric(pass, "pass")
			}
		})
	}
}

type scaleRun struct {
	scenario.RunSummary
	ttl time.Duration
}

// runAtScale runs owner-isolation with changefeeds changefeeds of tables
// tables each at L = 1 s.
func runAtScale(b *testing.B, bin string, changefeeds, tables int) scaleRun {
	b.Helper()
	sc, ok := scenario.Lookup("owner-isolation")
	require.True(b, ok)
	sc.Topology.Tables, sc.Topology.Changefeeds = tables, changefeeds
	sc.SLOs.Lag = time.Second
	sc.Steady.Lag = time.Second
	plan, err := sc.Plan(sc.Seed)
	require.NoError(b, err)
	dir := filepath.Join(b.TempDir(), "run")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := scenario.Run(ctx, scenario.RunOptions{Plan: plan, Dir: dir, Backend: chaos.BackendNetns, Policy: fencing.Epoch, Binary: bin})
	require.NoError(b, err)
	require.NotNil(b, out.Result)
	b.Logf("%d×%d dispatchers: verdict %s %v %v", changefeeds, tables, out.Verdict.Outcome, out.Verdict.Violated, out.Verdict.Reasons)
	return scaleRun{RunSummary: out, ttl: sc.WithDefaults().Topology.TTL}
}

// slowestRecovery is the slowest changefeed's first recovery from anchor,
// or -1 s when one never recovered.
func slowestRecovery(b *testing.B, res scaleRun, anchor string) time.Duration {
	b.Helper()
	slowest := recovery(res.Result, anchor)
	for _, cf := range res.Result.Changefeeds[min(1, len(res.Result.Changefeeds)):] {
		d := recovery(readResult(b, filepath.Join(res.Dir, cf.Dir)), anchor)
		if d < 0 || slowest < 0 {
			slowest = -time.Second
			continue
		}
		slowest = max(slowest, d)
	}
	return slowest
}

// recovery returns the first recovery from anchor ("inject" or "heal"),
// or -1 s when the lag never recovered.
func recovery(r *result.Result, anchor string) time.Duration {
	for _, rc := range r.Recoveries {
		if rc.Anchor == anchor {
			if !rc.Recovered {
				return -time.Second
			}
			return time.Duration(rc.DurationMs) * time.Millisecond
		}
	}
	return -time.Second
}
