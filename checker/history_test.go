package checker

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/reports/result"
)

// run feeds the history: each change before the records appended at or
// after its commit time (the order Feed uses), or, when changesLast, every
// record before any change.
func (h history) run(t *testing.T, changesLast bool) *result.Result {
	t.Helper()
	c, err := New(h.cfg)
	require.NoError(t, err)
	ci := 0
	for _, r := range h.records {
		for !changesLast && ci < len(h.changes) && PhysicalMs(h.changes[ci].CommitTs) <= r.AppendTime.UnixMilli() {
			c.AddChange(h.changes[ci])
			ci++
		}
		c.Add(r)
	}
	for ; ci < len(h.changes); ci++ {
		c.AddChange(h.changes[ci])
	}
	return c.Finish()
}

func TestHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			h, err := parseHistory(path)
			require.NoError(t, err)
			require.NotEmpty(t, h.expects, "a history must expect something")
			res := h.run(t, false)
			// The feeding order must not change the outcome.
			require.Equal(t, res, h.run(t, true), "records before changes gave another result")
			for _, e := range h.expects {
				checkExpect(t, res, e)
			}
			if t.Failed() {
				b, _ := json.MarshalIndent(struct {
					Invariants []result.Invariant
					Counters   result.Counters
					Verdict    result.Verdict
					Recoveries []result.Recovery
					Stale      []result.StaleEpoch
				}{res.Invariants, res.Counters, res.Verdict, res.Recoveries, res.StaleEpochs}, "", "  ")
				t.Logf("result:\n%s", b)
			}
		})
	}
}

// TestParseHistoryRejectsMalformedLines checks that a malformed transcript
// line is an error naming it, not a panic or a hang.
func TestParseHistoryRejectsMalformedLines(t *testing.T) {
	for _, line := range []string{
		"bogus p=0",
		"expect",
		"expect example completeness",
		"expect reason",
		"expect counter",
		"expect counter missing",
		"expect recovery f1",
		"expect recovery f1 heal speed=3",
		"expect stale-epoch",
		"expect stale-epoch 1 colour=red",
		"expect completeness=fail extra=1",
		"expect nonsense",
		"config L=soon",
		"grant epoch=one at=0 node=n1",
		"fault id=f1 kind=partition",
		"change t:1 v=a",
		"change ts=1x t:1",
		"row p=0 at=1 ts=1 e=1 n=n1",
		"row p=0 at=1 t:x ts=1 e=1 n=n1",
		"wm p=0 at=1 e=1 n=n1",
		"wm p=0 at=1 ts=1.x e=1 n=n1",
		"wms p=0,x from=0 to=10 e=1 n=n1",
		"wms p=0 from=0 to=10 every=0 e=1 n=n1",
		"decision at=1 node=n1 role=r msg=m msg_epoch=1 local_epoch=1 sender=s verdict=v acted loudly",
	} {
		path := filepath.Join(t.TempDir(), "h.txt")
		require.NoError(t, os.WriteFile(path, []byte("# a comment\n"+line+"\n"), 0o644))
		_, err := parseHistory(path)
		assert.ErrorContains(t, err, "h.txt:2: ", "%q", line)
	}
}

func checkExpect(t *testing.T, res *result.Result, e expectation) {
	t.Helper()
	switch e.what {
	case "verdict":
		assert.Equal(t, e.want, string(res.Verdict.Outcome), "verdict (violated %v, reasons %v)", res.Verdict.Violated, res.Verdict.Reasons)
	case "example":
		inv, ok := res.Invariant(e.name)
		require.True(t, ok, e.line)
		assert.True(t, slices.ContainsFunc(inv.Examples, func(x result.Example) bool { return strings.Contains(x.Message, e.want) }),
			"no %s example contains %q: %+v", e.name, e.want, inv.Examples)
	case "reason":
		assert.True(t, slices.ContainsFunc(res.Verdict.Reasons, func(r string) bool { return strings.Contains(r, e.want) }),
			"no reason contains %q: %v", e.want, res.Verdict.Reasons)
	case "counter":
		checkCounters(t, res.Counters, e.fields)
	case "recovery":
		checkRecovery(t, res.Recoveries, e)
	case "stale-epoch":
		checkStaleEpoch(t, res.StaleEpochs, e)
	case "invariant":
		inv, found := res.Invariant(e.name)
		require.True(t, found, "no invariant %q", e.name)
		assert.Equal(t, e.want, string(inv.Status), "%s: %s", e.name, inv.Summary)
		if v, ok := e.fields["violations"]; ok {
			assert.Equal(t, v, strconv.FormatInt(inv.Violations, 10), "%s violations", e.name)
		}
	default:
		t.Fatalf("unchecked expectation %q", e.line)
	}
}

// checkCounters compares counters by their JSON names; a generation count
// list is written epoch/node=records,...
func checkCounters(t *testing.T, counters result.Counters, want map[string]string) {
	t.Helper()
	b, err := json.Marshal(counters)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for k, v := range want {
		got, ok := m[k]
		if !ok {
			got = float64(0) // omitempty
		}
		if list, isList := got.([]any); isList {
			var parts []string
			for _, x := range list {
				g := x.(map[string]any)
				parts = append(parts, fmt.Sprintf("%v/%v=%v", g["epoch"], g["node"], g["records"]))
			}
			got = strings.Join(parts, ",")
		}
		assert.Equal(t, v, fmt.Sprint(got), "counter %s", k)
	}
}

func checkRecovery(t *testing.T, recoveries []result.Recovery, e expectation) {
	t.Helper()
	i := slices.IndexFunc(recoveries, func(r result.Recovery) bool { return r.FaultID == e.name && r.Anchor == e.anchor })
	require.GreaterOrEqual(t, i, 0, e.line)
	r := recoveries[i]
	got := map[string]string{
		"recovered": strconv.FormatBool(r.Recovered), "duration": strconv.FormatInt(r.DurationMs, 10),
		"peak": strconv.FormatInt(r.PeakLagMs, 10), "within": strconv.FormatBool(r.WithinBound), "judged": strconv.FormatBool(r.Judged),
	}
	for k, v := range e.fields {
		assert.Equal(t, v, got[k], "%s: %s", e.line, k)
	}
}

func checkStaleEpoch(t *testing.T, epochs []result.StaleEpoch, e expectation) {
	t.Helper()
	i := slices.IndexFunc(epochs, func(s result.StaleEpoch) bool { return strconv.FormatUint(s.Epoch, 10) == e.name })
	require.GreaterOrEqual(t, i, 0, e.line)
	s := epochs[i]
	got := map[string]string{
		"rows": fmt.Sprint(s.Rows), "watermarks": fmt.Sprint(s.Watermarks), "window": fmt.Sprint(s.WindowMs),
		"tolerated": fmt.Sprint(s.Tolerated), "by": fmt.Sprint(s.SupersededBy),
	}
	for k, v := range e.fields {
		assert.Equal(t, v, got[k], "%s %s", e.line, k)
	}
}
