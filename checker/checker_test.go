package checker

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/reports/result"
)

func at(ms int64) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"step too coarse": {Step: 200 * time.Millisecond},
		"step too fine":   {Step: time.Microsecond},
		"negative L":      {SLOs: SLOs{L: -time.Second}},
		"bank no column":  {Bank: &BankConfig{Table: "acct"}},
		"heal first":      {Faults: []FaultEvent{{ID: "f", Inject: at(10), Heal: at(5)}}},
		"partitions":      {Partitions: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(cfg)
			require.ErrorIs(t, err, ErrConfig)
		})
	}
	_, err := New(Config{})
	require.NoError(t, err)
}

func TestEpochIndex(t *testing.T) {
	x := newEpochIndex([]EpochGrant{
		{Epoch: 3, GrantedAt: at(3000), Node: "n3"},
		{Epoch: 1, GrantedAt: at(0), Node: "n1"},
		{Epoch: 2, GrantedAt: at(1000), Node: "n2"},
		{Epoch: 9, GrantedAt: at(500), Node: "x", Changefeed: "other"},
	}, "cf")
	for _, tc := range []struct {
		epoch uint64
		at    int64
		by    uint64
		ok    bool
	}{
		{0, 0, 1, true},
		{1, 1000, 2, true},
		{2, 3000, 3, true},
		{3, 0, 0, false},
		{7, 0, 0, false},
	} {
		gotAt, by, ok := x.supersededAt(tc.epoch)
		assert.Equal(t, tc.ok, ok, "epoch %d", tc.epoch)
		if tc.ok {
			assert.Equal(t, at(tc.at).UnixMilli(), gotAt, "epoch %d", tc.epoch)
			assert.Equal(t, tc.by, by, "epoch %d", tc.epoch)
		}
	}
	for _, tc := range []struct {
		t     int64
		epoch uint64
		ok    bool
	}{{-1, 0, false}, {0, 1, true}, {999, 1, true}, {1000, 2, true}, {5000, 3, true}} {
		e, ok := x.grantedAt(at(tc.t).UnixMilli())
		assert.Equal(t, tc.ok, ok, "t=%d", tc.t)
		assert.Equal(t, tc.epoch, e, "t=%d", tc.t)
	}
	assert.Equal(t, "n2", x.owner(2))
	assert.True(t, x.known(3))
	assert.False(t, x.known(9), "another changefeed's grant")
}

func TestDecide(t *testing.T) {
	inv := func(name string, class result.Class, status result.Status) result.Invariant {
		return result.Invariant{Name: name, Class: class, Status: status}
	}
	pass := inv("a", result.Safety, result.StatusPass)
	safetyFail := inv("s", result.Safety, result.StatusFail)
	liveFail := inv("l", result.Liveness, result.StatusFail)
	skipped := inv("k", result.Safety, result.StatusSkipped)
	for _, tc := range []struct {
		name     string
		invs     []result.Invariant
		reasons  []string
		outcome  result.Outcome
		violated []string
	}{
		{"all pass", []result.Invariant{pass, skipped}, nil, result.Pass, nil},
		{"safety", []result.Invariant{pass, safetyFail}, nil, result.Fail, []string{"s"}},
		{"liveness", []result.Invariant{liveFail, pass}, nil, result.Fail, []string{"l"}},
		{"liveness under a bad environment", []result.Invariant{liveFail}, []string{"env"}, result.Inconclusive, []string{"l"}},
		{"safety under a bad environment", []result.Invariant{liveFail, safetyFail}, []string{"env"}, result.Fail, []string{"l", "s"}},
		{"no violation, bad environment", []result.Invariant{pass}, []string{"env"}, result.Inconclusive, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Decide(tc.invs, tc.reasons)
			assert.Equal(t, tc.outcome, v.Outcome)
			assert.Equal(t, tc.violated, v.Violated)
			assert.Equal(t, tc.reasons, v.Reasons)
		})
	}
}

func TestColumnsCanonicalise(t *testing.T) {
	var c Columns
	require.NoError(t, json.Unmarshal([]byte(`{"s":"x","n":12.50,"b":true,"z":null,"o":{"a": 1}}`), &c))
	assert.Equal(t, Columns{"s": "x", "n": "12.50", "b": "true", "z": "null", "o": `{"a": 1}`}, c)
	assert.Equal(t, rowHash("put", Columns{"a": "1", "b": "2"}), rowHash("put", Columns{"b": "2", "a": "1"}))
	assert.NotEqual(t, rowHash("put", Columns{"a": "1", "b": "2"}), rowHash("put", Columns{"a": "2", "b": "1"}))
	assert.NotEqual(t, rowHash("put", nil), rowHash("delete", nil))
}

func TestKindText(t *testing.T) {
	var r Record
	require.NoError(t, json.Unmarshal([]byte(`{"kind":"watermark","watermark_ts":5}`), &r))
	assert.Equal(t, KindWatermark, r.Kind)
	require.Error(t, json.Unmarshal([]byte(`{"kind":"bogus"}`), &r))
	b, err := json.Marshal(Record{Kind: KindRow})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"kind":"row"`)
}

func TestTSO(t *testing.T) {
	ts := ComposeTS(1_700_000_000_123, 7)
	assert.Equal(t, int64(1_700_000_000_123), PhysicalMs(ts))
	assert.Equal(t, uint64(7), ts&(1<<18-1))
	assert.True(t, Physical(ts).Equal(time.UnixMilli(1_700_000_000_123)))
}

// TestFeedMatchesDirectFeeding writes a history as a change log and a
// record dump and checks that Feed reads them to the same result.
func TestFeedMatchesDirectFeeding(t *testing.T) {
	h, err := parseHistory(filepath.Join("testdata", "histories", "replay-ok.txt"))
	require.NoError(t, err)
	var changes, records bytes.Buffer
	for _, ch := range h.changes {
		require.NoError(t, json.NewEncoder(&changes).Encode(ch))
	}
	for _, r := range h.records {
		records.Write(AppendDumpRecord(nil, &r))
	}
	c, err := New(h.cfg)
	require.NoError(t, err)
	require.NoError(t, Feed(c, &changes, &records))
	assert.Equal(t, h.run(t, false), c.Finish())

	// The upstream's own format: one transaction per line.
	var txns bytes.Buffer
	for i := 0; i < len(h.changes); {
		j := i
		var rows []map[string]any
		for ; j < len(h.changes) && h.changes[j].CommitTs == h.changes[i].CommitTs; j++ {
			ch := h.changes[j]
			rows = append(rows, map[string]any{"table": ch.Table, "pk": ch.PK, "op": ch.Op, "columns": ch.Columns})
		}
		require.NoError(t, json.NewEncoder(&txns).Encode(map[string]any{"commit_ts": h.changes[i].CommitTs, "rows": rows}))
		i = j
	}
	records.Reset()
	for _, r := range h.records {
		records.Write(AppendDumpRecord(nil, &r))
	}
	c, err = New(h.cfg)
	require.NoError(t, err)
	require.NoError(t, Feed(c, &txns, &records))
	assert.Equal(t, h.run(t, false), c.Finish())

	_, err = LoadJSONL[Change](bytes.NewBufferString("{\"commit_ts\":1}\n\n{oops\n"))
	require.ErrorContains(t, err, "line 3")
}

func TestStaleMessagesFunction(t *testing.T) {
	grants := []EpochGrant{{Epoch: 1, GrantedAt: at(0), Node: "n1"}, {Epoch: 2, GrantedAt: at(1000), Node: "n2"}}
	ds := []DecisionEntry{
		{Time: at(1300), Node: "n3", MsgEpoch: 1, LocalEpoch: 1, Acted: true},
		{Time: at(900), Node: "n3", MsgEpoch: 1, LocalEpoch: 1, Acted: true},  // current then
		{Time: at(1200), Node: "n3", MsgEpoch: 2, LocalEpoch: 2, Acted: true}, // current
		{Time: at(1100), Node: "n4", MsgEpoch: 1, LocalEpoch: 2, Acted: true}, // breach
		{Time: at(1400), Node: "n4", MsgEpoch: 1, LocalEpoch: 2},              // rejected
	}
	got := StaleMessages(ds, grants, nil, "", at(0))
	require.Len(t, got, 2)
	assert.Equal(t, "n4", got[0].Node)
	assert.True(t, got[0].Harmful, "acted below its own epoch")
	assert.False(t, got[0].Tolerated, "a harmful act is never tolerated")
	assert.Equal(t, int64(1300), got[1].AtMs)
	assert.Equal(t, int64(300), got[1].LatenessMs)
	assert.False(t, got[1].Harmful, "the receiver was still on epoch 1")
	assert.True(t, got[1].Tolerated, "an uninformed act is listed, not judged")
	assert.Equal(t, uint64(2), got[1].GrantedEpoch)

	// The reason says when the generation could have learned: from the heal
	// of a fault that had it cut off.
	healed := []FaultEvent{{ID: "f1", Inject: at(800), Heal: at(1250), Effective: true}}
	got = StaleMessages(ds, grants, healed, "", at(0))
	assert.Contains(t, got[1].Reason, "50ms after it could have learned")
}

// TestCompletenessMatchesNaiveOracle runs random histories with gaps,
// duplicates, replays and late rows through the checker, in both feeding
// orders, and compares the counts with plain set arithmetic.
func TestCompletenessMatchesNaiveOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(seed(t), 5))
	for iter := range 300 {
		changes, records := randomDeliveries(r)
		want := naiveCompleteness(changes, records)
		h := history{cfg: Config{Partitions: 2}, changes: changes, records: records}
		for _, changesLast := range []bool{false, true} {
			got := h.run(t, changesLast).Counters
			require.Equal(t, int64(len(changes)), got.Changes, "iter %d", iter)
			require.Equal(t, want.duplicates, got.Duplicates, "iter %d duplicates", iter)
			require.Equal(t, want.lateRows, got.LateRows, "iter %d late rows", iter)
			require.Equal(t, want.missing, got.Missing, "iter %d missing", iter)
			require.Equal(t, want.beyondFinal, got.BeyondFinalWatermark, "iter %d beyond", iter)
			require.Zero(t, got.Phantoms, "iter %d", iter)
			require.Zero(t, got.InputErrors, "iter %d", iter)
		}
	}
}

// randomDeliveries returns up to 40 changes over a few keys of table t and
// the records of a topic of two partitions (pk % 2) that delivers each 0 to
// 2 times in key order, with occasional replays of an earlier change by a
// newer epoch, watermarks in between and a final watermark on both.
func randomDeliveries(r *rand.Rand) ([]Change, []Record) {
	nkeys := 1 + r.IntN(6)
	var changes []Change
	for i := range 1 + r.IntN(40) {
		ts := ComposeTS(base.UnixMilli()+int64(10*(i+1)), 0)
		changes = append(changes, Change{CommitTs: ts, Table: "t", PK: int64(r.IntN(nkeys)), Op: "put", Columns: Columns{"v": "x"}})
	}
	var records []Record
	clock := int64(5)
	offsets := map[int32]int64{}
	add := func(rec Record) {
		clock += int64(1 + r.IntN(15))
		rec.AppendTime = at(clock)
		rec.Offset = offsets[rec.Partition]
		offsets[rec.Partition]++
		records = append(records, rec)
	}
	var delivered []Change
	for _, ch := range changes {
		copies := 1
		switch r.IntN(8) {
		case 0:
			copies = 0
		case 1:
			copies = 2
		}
		for range copies {
			add(Record{Kind: KindRow, Partition: int32(ch.PK % 2), Table: "t", PK: ch.PK, Op: "put", CommitTs: ch.CommitTs,
				Columns: Columns{"v": "x"}, Epoch: 1, Node: "n1"})
			delivered = append(delivered, ch)
		}
		if len(delivered) > 0 && r.IntN(6) == 0 {
			old := delivered[r.IntN(len(delivered))]
			add(Record{Kind: KindRow, Partition: int32(old.PK % 2), Table: "t", PK: old.PK, Op: "put", CommitTs: old.CommitTs,
				Columns: Columns{"v": "x"}, Epoch: 2, Node: "n2"})
		}
		if r.IntN(3) == 0 {
			wm := ComposeTS(base.UnixMilli()+int64(r.IntN(450)), 0)
			add(Record{Kind: KindWatermark, Partition: int32(r.IntN(2)), WatermarkTs: wm, Epoch: 1, Node: "n1"})
		}
	}
	final := ComposeTS(base.UnixMilli()+int64(r.IntN(500)), 0)
	add(Record{Kind: KindWatermark, Partition: 0, WatermarkTs: final, Epoch: 1, Node: "n1"})
	add(Record{Kind: KindWatermark, Partition: 1, WatermarkTs: final, Epoch: 1, Node: "n1"})
	return changes, records
}

// oracleCounts are the completeness counts naiveCompleteness derives.
type oracleCounts struct {
	duplicates, lateRows, missing, beyondFinal int64
}

// naiveCompleteness is the completeness definition in plain set arithmetic
// over (pk, commit_ts) for records of table t in two partitions.
func naiveCompleteness(changes []Change, records []Record) oracleCounts {
	type change struct {
		pk int64
		ts uint64
	}
	var out oracleCounts
	seen := map[change]bool{}
	maxWm := map[int32]uint64{}
	for _, rec := range records {
		if rec.Kind == KindWatermark {
			maxWm[rec.Partition] = max(maxWm[rec.Partition], rec.WatermarkTs)
			continue
		}
		k := change{rec.PK, rec.CommitTs}
		if seen[k] {
			out.duplicates++
			continue
		}
		seen[k] = true
		if maxWm[rec.Partition] >= rec.CommitTs {
			out.lateRows++
		}
	}
	globalFinal := min(maxWm[0], maxWm[1])
	upstream := map[change]bool{}
	for _, ch := range changes {
		upstream[change{ch.PK, ch.CommitTs}] = true
	}
	for k := range upstream {
		switch {
		case seen[k]:
		case k.ts <= globalFinal:
			out.missing++
		default:
			out.beyondFinal++
		}
	}
	return out
}

func TestAddAfterFinishPanics(t *testing.T) {
	c, err := New(Config{})
	require.NoError(t, err)
	c.Finish()
	require.Panics(t, func() { c.Add(Record{Kind: KindRow}) })
	require.Panics(t, func() { c.Finish() })
}

func TestForeignAndBadRecords(t *testing.T) {
	c, err := New(Config{Changefeed: "cf", NoChangeLog: true})
	require.NoError(t, err)
	c.Add(Record{Changefeed: "other", Kind: KindRow, AppendTime: at(1)})
	c.Add(Record{Changefeed: "cf", Kind: KindUnknown, AppendTime: at(2)})
	c.Add(Record{Changefeed: "cf", Kind: KindRow, Partition: -3, AppendTime: at(3)})
	res := c.Finish()
	assert.Equal(t, int64(1), res.Counters.Foreign)
	assert.Equal(t, int64(2), res.Counters.InputErrors)
	assert.Equal(t, result.Inconclusive, res.Verdict.Outcome)
}

// TestNoWatermarkPromise judges the lying-watermark history again for a
// target that promises nothing with its watermarks: the late row is not a
// violation, and watermark honesty says the order was not judged.
func TestNoWatermarkPromise(t *testing.T) {
	h, err := parseHistory(filepath.Join("testdata", "histories", "lying-watermark.txt"))
	require.NoError(t, err)
	res := h.run(t, false)
	require.Equal(t, result.Fail, res.Verdict.Outcome)
	require.Equal(t, int64(1), res.Counters.LateRows)

	h.cfg.NoWatermarkPromise = true
	res = h.run(t, false)
	assert.Equal(t, result.Pass, res.Verdict.Outcome, "%v", res.Verdict)
	assert.Zero(t, res.Counters.LateRows)
	inv, ok := res.Invariant(result.WatermarkHonesty)
	require.True(t, ok)
	assert.Equal(t, result.StatusPass, inv.Status)
	assert.Contains(t, inv.Summary, NoWatermarkPromiseNote)
	assert.Contains(t, inv.Summary, "0 rows differing from upstream")
	// The other invariants are judged as before.
	for _, name := range []string{result.Completeness, result.Order} {
		inv, ok := res.Invariant(name)
		require.True(t, ok, name)
		assert.Equal(t, result.StatusPass, inv.Status, name)
	}
	assert.GreaterOrEqual(t, res.Lag.FirstDefinedMs, int64(0), "lag is defined")
}

// TestRowProgress checks that rows are progress marks for lag when the
// target says so: lag is defined from the first row, not from the first
// watermark, and the duplicates stay duplicates either way.
func TestRowProgress(t *testing.T) {
	h, err := parseHistory(filepath.Join("testdata", "histories", "exactly-once.txt"))
	require.NoError(t, err)
	res := h.run(t, false)
	require.Equal(t, int64(2), res.Counters.Duplicates)
	withRows := res.Lag.FirstDefinedMs
	assert.Equal(t, result.Judging{NoWatermarkPromise: true, ExactlyOnce: true, RowProgress: true}, res.Judging,
		"the result says how it was judged, so that a check of the run directory judges it again the same way")

	h.cfg.RowProgress = false
	res = h.run(t, false)
	assert.Equal(t, int64(2), res.Counters.Duplicates)
	assert.Less(t, withRows, res.Lag.FirstDefinedMs, "rows define the lag before the first watermark")

	h.cfg.ExactlyOnce = false
	res = h.run(t, false)
	inv, ok := res.Invariant(result.Completeness)
	require.True(t, ok)
	assert.Equal(t, result.StatusPass, inv.Status, "without the promise a duplicate is a tolerated replay")
}
