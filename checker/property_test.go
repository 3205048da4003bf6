package checker

import (
	"flag"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/reports/result"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the property tests (0: a fresh one per run)")

// seed returns the seed of a property test and logs it on failure so that a
// failing run can be replayed with -seed.
func seed(t *testing.T) uint64 {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with: go test ./checker/ -run '%s' -seed %d", t.Name(), s)
		}
	})
	return s
}

// naiveLag is the definition of lag written as plainly as possible: at t,
// each partition's visible watermark is the highest ts appended at or
// before t; the global one is their minimum.
func naiveLag(wms []Watermark, parts []int32, t int64) (int64, bool) {
	var global uint64
	for i, p := range parts {
		var best uint64
		found := false
		for _, w := range wms {
			if w.Partition == p && w.AtMs <= t && (!found || w.Ts > best) {
				best, found = w.Ts, true
			}
		}
		if !found {
			return 0, false
		}
		if i == 0 || best < global {
			global = best
		}
	}
	return t - PhysicalMs(global), true
}

func randomTimeline(r *rand.Rand) ([]Watermark, []int32) {
	parts := make([]int32, 1+r.IntN(4))
	for i := range parts {
		parts[i] = int32(i)
	}
	wms := make([]Watermark, r.IntN(80))
	for i := range wms {
		at := int64(r.IntN(3000))
		// Mostly a small lag, sometimes a stall, sometimes a regression.
		lag := int64(r.IntN(200))
		if r.IntN(8) == 0 {
			lag = int64(r.IntN(3000))
		}
		// Partition 9 is not in the topic and must be ignored.
		p := int32(r.IntN(len(parts) + 1))
		if int(p) == len(parts) {
			p = 9
		}
		wms[i] = Watermark{Partition: p, AtMs: at, Ts: ComposeTS(at-lag, uint64(r.IntN(4)))}
	}
	return wms, parts
}

func TestLagSamplesMatchNaiveOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(seed(t), 1))
	for iter := range 1000 {
		wms, parts := randomTimeline(r)
		start := int64(r.IntN(500)) - 100
		end := start + int64(r.IntN(3500))
		step := int64(5 + r.IntN(96))
		in := slices.Clone(wms)

		samples := LagSamples(GlobalSteps(wms, parts), start, end, step)
		require.Equal(t, in, wms, "GlobalSteps must not modify its input")

		require.NotEmpty(t, samples)
		require.Equal(t, int64(0), samples[0].TMs)
		require.Equal(t, end-start, samples[len(samples)-1].TMs, "iter %d: the last sample is at the end", iter)
		for i, s := range samples {
			if i > 0 {
				gap := s.TMs - samples[i-1].TMs
				require.True(t, gap > 0 && gap <= step, "iter %d: samples %d ms apart, step %d", iter, gap, step)
			}
			lag, ok := naiveLag(wms, parts, start+s.TMs)
			require.Equal(t, !ok, s.Undefined, "iter %d t=%d", iter, s.TMs)
			if ok {
				require.Equal(t, lag, s.LagMs, "iter %d t=%d", iter, s.TMs)
			}
		}
	}
}

func TestGlobalStepsAreMonotone(t *testing.T) {
	r := rand.New(rand.NewPCG(seed(t), 2))
	for range 1000 {
		wms, parts := randomTimeline(r)
		steps := GlobalSteps(wms, parts)
		for i := 1; i < len(steps); i++ {
			require.Greater(t, steps[i].AtMs, steps[i-1].AtMs)
			require.Greater(t, steps[i].Ts, steps[i-1].Ts)
		}
		for _, s := range steps {
			g, ok := GlobalAt(steps, s.AtMs)
			require.True(t, ok)
			require.Equal(t, s.Ts, g)
		}
	}
}

// naiveRecover is the recovery definition checked instant by instant: the
// first sample at or after the anchor such that it and every later sample up
// to and including the first one at least w after it are defined and ≤ l.
func naiveRecover(samples []result.LagSample, anchor, l, w int64) (recovered bool, at, peak int64) {
	good := func(s result.LagSample) bool { return !s.Undefined && s.LagMs <= l }
	last := samples[len(samples)-1].TMs
	for i, s := range samples {
		if s.TMs < anchor {
			continue
		}
		ok, covered := true, false
		for _, x := range samples[i:] {
			if !good(x) {
				ok = false
				break
			}
			if x.TMs >= s.TMs+w {
				covered = true
				break
			}
		}
		if ok && covered {
			recovered, at = true, s.TMs
			break
		}
	}
	until := last
	if recovered {
		until = at + w
	}
	for _, s := range samples {
		if s.TMs >= anchor && s.TMs <= until && !s.Undefined && s.LagMs > peak {
			peak = s.LagMs
		}
	}
	return recovered, at, peak
}

func TestRecoverMatchesNaiveOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(seed(t), 3))
	for iter := range 5000 {
		n := 1 + r.IntN(120)
		samples := make([]result.LagSample, n)
		tm := int64(0)
		lag := int64(r.IntN(500))
		for i := range samples {
			// Lag walks: grows while stalled, drops when a watermark lands.
			if r.IntN(4) == 0 {
				lag = int64(r.IntN(300))
			} else {
				lag += int64(r.IntN(150))
			}
			samples[i] = result.LagSample{TMs: tm, LagMs: lag, Undefined: r.IntN(25) == 0}
			if samples[i].Undefined {
				samples[i].LagMs = 0
			}
			tm += int64(1 + r.IntN(100))
		}
		anchor := int64(r.IntN(int(tm)+200)) - 100
		l := int64(r.IntN(600))
		w := int64(r.IntN(1500))

		got := Recover(samples, anchor, l, w)
		rec, at, peak := naiveRecover(samples, anchor, l, w)
		require.Equal(t, rec, got.Recovered, "iter %d", iter)
		require.Equal(t, samples[n-1].TMs, got.DeadlineMs, "iter %d", iter)
		if rec {
			require.Equal(t, at, got.RecoveredMs, "iter %d", iter)
			require.Equal(t, at-anchor, got.DurationMs, "iter %d", iter)
		}
		require.Equal(t, peak, got.PeakLagMs, "iter %d", iter)
	}
}

func TestHistogramQuantilesWithinBound(t *testing.T) {
	r := rand.New(rand.NewPCG(seed(t), 4))
	for iter := range 300 {
		var h Histogram
		vals := make([]int64, 1+r.IntN(2000))
		for i := range vals {
			switch r.IntN(3) {
			case 0:
				vals[i] = int64(r.IntN(128))
			case 1:
				vals[i] = int64(r.IntN(100_000))
			default:
				vals[i] = int64(r.ExpFloat64() * 5000)
			}
			h.Add(vals[i])
		}
		slices.Sort(vals)
		require.Equal(t, vals[len(vals)-1], h.Max())
		require.Equal(t, int64(len(vals)), h.Count())
		for _, q := range []float64{0.01, 0.5, 0.95, 0.99, 1} {
			rank := int(q*float64(len(vals)) + 0.999999999)
			want := vals[max(rank, 1)-1]
			got := h.Quantile(q)
			require.GreaterOrEqual(t, got, want, "iter %d q=%v", iter, q)
			if want < 128 {
				require.Equal(t, want, got, "iter %d q=%v: exact below 128", iter, q)
			} else {
				require.LessOrEqual(t, float64(got-want), float64(want)/64, "iter %d q=%v: within 1/64", iter, q)
			}
		}
	}
}
