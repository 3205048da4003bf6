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
// 20, 200 and 2,000 tables, a dispatcher each, judged at lag L = 1 s, and
// reports for each size the failover (inject → lag ≤ 1 s for 5 s, while
// the owner is still cut off: a new owner elected after the TTL bootstraps
// every dispatcher again), the reintegration (heal → lag ≤ 1 s), the
// failover as a ratio of TTL + 2 s (≤ 1 meets the bar), the peak backlog,
// and the run's verdict (1 pass).
//
//	go test -run '^$' -bench BenchmarkFailoverScale -benchtime 1x -timeout 30m ./scenario/
func BenchmarkFailoverScale(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the netns backend needs root")
	}
	bin := e2e(b)
	for _, tables := range []int{2, 20, 200, 2000} {
		b.Run(fmt.Sprintf("dispatchers=%d", tables), func(b *testing.B) {
			for range b.N {
				res := runAtScale(b, bin, tables)
				ttl := res.ttl
				fo, re := recovery(res.Result, "inject"), recovery(res.Result, "heal")
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

// runAtScale runs owner-isolation with tables tables at L = 1 s.
func runAtScale(b *testing.B, bin string, tables int) scaleRun {
	b.Helper()
	sc, ok := scenario.Lookup("owner-isolation")
	require.True(b, ok)
	sc.Topology.Tables = tables
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
	b.Logf("%d dispatchers: verdict %s %v %v", tables, out.Verdict.Outcome, out.Verdict.Violated, out.Verdict.Reasons)
	return scaleRun{RunSummary: out, ttl: sc.WithDefaults().Topology.TTL}
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
