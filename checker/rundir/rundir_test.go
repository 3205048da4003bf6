package rundir_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/checker/rundir/rundirtest"
	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/reports/result"
	"github.com/chaosrun/chaosrun/system/upstream"
)

var slos = checker.SLOs{L: time.Second, W: 500 * time.Millisecond, RecoveryBound: 10 * time.Second}

func TestRecordAdapter(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 1, 0, time.FixedZone("x", 3600))
	row := evidence.Record{
		Topic: "cf1", Partition: 3, Offset: 17, Timestamp: at, Key: []byte("t1:5"), Kind: evidence.KindRow,
		Changefeed: "cf1", Epoch: 4, Node: "n2",
		Row: &evidence.Row{Changefeed: "cf1", Epoch: 4, Node: "n2", Dispatcher: "d7", Table: "t1", PK: 5, Op: evidence.OpUpdate,
			CommitTs: 99, Columns: map[string]string{"s": `"a b"`, "i": "12"}},
	}
	assert.Equal(t, checker.Record{
		Partition: 3, Offset: 17, AppendTime: at.UTC(), Kind: checker.KindRow, Changefeed: "cf1",
		Table: "t1", PK: 5, Op: "update", CommitTs: 99, Columns: checker.Columns{"s": "a b", "i": "12"},
		Epoch: 4, Node: "n2", Dispatcher: "d7",
	}, rundir.Record(row))

	wm := evidence.Record{Partition: 1, Offset: 2, Timestamp: at, Kind: evidence.KindWatermark, Changefeed: "cf1", Epoch: 4, Node: "n2",
		Watermark: &evidence.Watermark{Changefeed: "cf1", Epoch: 4, Node: "n2", Ts: 1234}}
	assert.Equal(t, checker.Record{Partition: 1, Offset: 2, AppendTime: at.UTC(), Kind: checker.KindWatermark, Changefeed: "cf1",
		Epoch: 4, Node: "n2", WatermarkTs: 1234}, rundir.Record(wm))

	// A delete carries no image.
	del := row
	del.Row = &evidence.Row{Table: "t1", PK: 5, Op: evidence.OpDelete, CommitTs: 100}
	assert.Nil(t, rundir.Record(del).Columns)
}

// TestColumnsMatchUpstream renders values the way the node writes them to
// Kafka and the way the upstream writes its change log, and checks both
// canonicalise to the same text. NB: the string "42" and the int 42 both
// become "42" on both sides, so a type change alone is not detected.
func TestColumnsMatchUpstream(t *testing.T) {
	values := []upstream.Value{
		upstream.Str("abc"), upstream.Str(`quote " and \ backslash`), upstream.Str("line\nbreak\ttab"),
		upstream.Str(""), upstream.Str("ünï€ode"), upstream.Str("\x01ctl"), upstream.Str("42"), upstream.Str(`"`),
		upstream.Int(42), upstream.Int(-7), upstream.Int(0),
	}
	for _, v := range values {
		sink := rundir.Columns(map[string]string{"c": v.String()})
		b, err := json.Marshal(map[string]upstream.Value{"c": v})
		require.NoError(t, err)
		var log checker.Columns
		require.NoError(t, json.Unmarshal(b, &log))
		assert.Equal(t, log, sink, "value %s", v)
	}
	// A value the node did not quote stays as it is.
	assert.Equal(t, checker.Columns{"c": `"unterminated`}, rundir.Columns(map[string]string{"c": `"unterminated`}))
	assert.Nil(t, rundir.Columns(nil))
}

func TestGrantsAndDecisions(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, []checker.EpochGrant{{Changefeed: "cf1", Epoch: 2, GrantedAt: at, Node: "n3"}},
		rundir.Grants([]evidence.Epoch{{Changefeed: "cf1", Epoch: 2, GrantedAt: at, Node: "n3", Revision: 9}}))
	assert.Equal(t, []checker.DecisionEntry{{Time: at, Changefeed: "cf1", Node: "n1", Role: "dispatcher-manager",
		MsgType: "ScheduleDispatcherRequest", MsgEpoch: 1, LocalEpoch: 2, Sender: "n2", Verdict: "RejectStale", Acted: false}},
		rundir.Decisions([]evidence.Decision{{Time: at, Node: "n1", Role: "dispatcher-manager", Changefeed: "cf1",
			Message: "ScheduleDispatcherRequest", MsgEpoch: 1, LocalEpoch: 2, Sender: "n2", LocalNode: "n1", Rule: "r",
			Verdict: "RejectStale", Policy: "epoch", Reason: "stale"}}))
}

func TestLoaders(t *testing.T) {
	dir := t.TempDir()
	rundirtest.Write(t, dir, rundirtest.Options{Fault: true})

	grants, ok, err := rundir.LoadGrants(dir)
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, grants, 1)
	assert.Equal(t, "n1", grants[0].Node)

	// A node killed mid-write leaves a torn line; it is skipped.
	f, err := os.OpenFile(filepath.Join(dir, evidence.DecisionsFile("n2")), os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	require.NoError(t, json.NewEncoder(f).Encode(evidence.Decision{Time: rundirtest.Base.Add(-time.Minute), Node: "n2", Message: "HeartBeatResponse"}))
	_, err = f.WriteString(`{"time":"2026-01-01T00:00:0`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	ds, err := rundir.LoadDecisions(dir)
	require.NoError(t, err)
	require.Len(t, ds, 2)
	assert.Equal(t, "HeartBeatResponse", ds[0].MsgType, "sorted by time")
	assert.Equal(t, "CheckpointTsMessage", ds[1].MsgType)

	faults, ok, err := rundir.LoadFaults(dir)
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, faults, 1)
	assert.True(t, faults[0].Effective)

	offs, ok, err := rundir.LoadOffsets(dir)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, offs.Records, offs.Total())

	empty := t.TempDir()
	_, ok, err = rundir.LoadGrants(empty)
	require.NoError(t, err)
	assert.False(t, ok)
	_, ok, err = rundir.LoadFaults(empty)
	require.NoError(t, err)
	assert.False(t, ok)
	bad, err := rundir.LoadMalformed(empty)
	require.NoError(t, err)
	assert.Empty(t, bad)
}

// TestFaultsSchemaExample parses the example of checker.FaultEvent's doc.
func TestFaultsSchemaExample(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, rundir.FaultsFile), []byte(`[
	 {"id": "f1", "kind": "partition", "target_role": "owner", "target_process": "n1",
	  "inject": "2026-01-01T00:00:10Z", "heal": "2026-01-01T00:00:25Z", "effective": true},
	 {"id": "f2", "kind": "kill", "target_process": "n2", "inject": "2026-01-01T00:00:30Z", "effective": false}]`), 0o644))
	fs, ok, err := rundir.LoadFaults(dir)
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, fs, 2)
	assert.Equal(t, 15*time.Second, fs[0].Heal.Sub(fs[0].Inject))
	assert.True(t, fs[1].Heal.IsZero())
	b, err := json.Marshal(fs[1])
	require.NoError(t, err)
	assert.NotContains(t, string(b), "heal", "an unhealed fault has no heal")
}

func TestCheckRunDir(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    rundirtest.Options
		outcome result.Outcome
		reason  string
		check   func(t *testing.T, r *result.Result)
	}{
		{name: "clean", outcome: result.Pass, check: func(t *testing.T, r *result.Result) {
			assert.Equal(t, 200+2*20, int(r.Counters.Records))
			assert.EqualValues(t, 200, r.Counters.Changes)
			assert.Equal(t, rundirtest.Partitions, r.Counters.Partitions)
			assert.Equal(t, "cf1", r.Changefeed, "the only changefeed of the epoch history")
			inv, _ := r.Invariant(result.WatermarkHonesty)
			assert.Equal(t, result.StatusPass, inv.Status, "values match after the adapter: %s", inv.Summary)
			inv, _ = r.Invariant(result.StaleGeneration)
			assert.Equal(t, result.StatusPass, inv.Status, inv.Summary)
		}},
		{name: "fault recovered", opts: rundirtest.Options{Fault: true}, outcome: result.Pass, check: func(t *testing.T, r *result.Result) {
			require.Len(t, r.Faults, 1)
			inv, _ := r.Invariant(result.LagRecovery)
			assert.Equal(t, result.StatusPass, inv.Status, inv.Summary)
		}},
		{name: "gap", opts: rundirtest.Options{Drop: 50}, outcome: result.Fail, check: func(t *testing.T, r *result.Result) {
			assert.EqualValues(t, 1, r.Counters.Missing)
			assert.Contains(t, r.Verdict.Violated, result.Completeness)
		}},
		{name: "ineffective fault", opts: rundirtest.Options{Ineffective: true}, outcome: result.Inconclusive, reason: "did not take effect"},
		{name: "never drained", opts: rundirtest.Options{NoOffsets: true}, outcome: result.Inconclusive, reason: "never drained"},
		{name: "short dump", opts: rundirtest.Options{Short: true}, outcome: result.Inconclusive, reason: "holds 240 of the 241 records"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rundirtest.Write(t, dir, tc.opts)
			r, err := rundir.CheckRunDir(dir, slos, rundir.Info{Run: checker.RunInfo{Scenario: "unit"}})
			require.NoError(t, err)
			assert.Equal(t, tc.outcome, r.Verdict.Outcome, "%+v", r.Verdict)
			if tc.reason != "" {
				assert.Contains(t, strings.Join(r.Verdict.Reasons, "\n"), tc.reason)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestCheckRunDirTornDumpAndChangeLog(t *testing.T) {
	dir := t.TempDir()
	rundirtest.Write(t, dir, rundirtest.Options{})
	// The tailer killed halfway through a record, the upstream halfway
	// through a line.
	rec := checker.Record{Partition: 0, Offset: 999, Kind: checker.KindRow, Table: "t1", Node: "n1"}
	whole := checker.AppendDumpRecord(nil, &rec)
	for f, tail := range map[string]string{rundir.SinkRecordsFile: string(whole[:len(whole)/2]), rundir.ChangeLogPath: `{"commit_ts":1,"ro`} {
		fh, err := os.OpenFile(filepath.Join(dir, f), os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = fh.WriteString(tail)
		require.NoError(t, err)
		require.NoError(t, fh.Close())
	}
	r, err := rundir.CheckRunDir(dir, slos, rundir.Info{})
	require.NoError(t, err)
	assert.Equal(t, result.Inconclusive, r.Verdict.Outcome, "%+v", r.Verdict)
	assert.Contains(t, strings.Join(r.Verdict.Reasons, "\n"), "environment: "+rundir.SinkRecordsFile+" ends in a torn record")
	assert.EqualValues(t, 240, r.Counters.Records)
}

func TestCheckRunDirErrors(t *testing.T) {
	_, err := rundir.CheckRunDir(filepath.Join(t.TempDir(), "nope"), slos, rundir.Info{})
	require.ErrorIs(t, err, rundir.ErrNotRunDir)
	assert.ErrorContains(t, err, "does not exist")

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = rundir.CheckRunDir(file, slos, rundir.Info{})
	require.ErrorIs(t, err, rundir.ErrNotRunDir)

	_, err = rundir.CheckRunDir(t.TempDir(), slos, rundir.Info{})
	require.ErrorIs(t, err, rundir.ErrNotRunDir)
	assert.ErrorContains(t, err, rundir.SinkRecordsFile)

	legacy := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(legacy, "sink-records.jsonl"), []byte("{}\n"), 0o644))
	_, err = rundir.CheckRunDir(legacy, slos, rundir.Info{})
	require.ErrorIs(t, err, rundir.ErrNotRunDir)
	assert.ErrorContains(t, err, "JSON-lines dump", "an older run directory is named as such")

	garble := func(name, content string) error {
		dir := t.TempDir()
		rundirtest.Write(t, dir, rundirtest.Options{})
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
		_, err := rundir.CheckRunDir(dir, slos, rundir.Info{})
		return err
	}
	// A complete second record that is not protobuf (field 1, wire type 7).
	rec := checker.Record{Kind: checker.KindWatermark, Node: "n1"}
	err = garble(rundir.SinkRecordsFile, string(append(checker.AppendDumpRecord(nil, &rec), 2, 0x0f, 0)))
	require.ErrorIs(t, err, rundir.ErrInput)
	assert.ErrorContains(t, err, "record 2")
	err = garble(evidence.EpochsFile, "{")
	require.ErrorIs(t, err, rundir.ErrInput)
	assert.ErrorContains(t, err, evidence.EpochsFile)
	err = garble(rundir.FaultsFile, `[{"id":"f1","inject":"yesterday"}]`)
	require.ErrorIs(t, err, rundir.ErrInput)
	err = garble(rundir.SinkOffsetsFile, `[]`)
	require.ErrorIs(t, err, rundir.ErrInput)
	err = garble(rundir.ChangeLogPath, "{\"commit_ts\":1,\"rows\":[{\"table\":\"t1\",\"pk\":\"x\"}]}\n")
	require.ErrorIs(t, err, rundir.ErrInput)
	assert.ErrorContains(t, err, "change log line 1")

	// SLOs are validated by the checker.
	dir := t.TempDir()
	rundirtest.Write(t, dir, rundirtest.Options{})
	_, err = rundir.CheckRunDir(dir, checker.SLOs{L: -time.Second}, rundir.Info{})
	require.ErrorIs(t, err, checker.ErrConfig)
}

// TestCheckRunDirWriters reads the tailer's writer scan into the result
// and checks it against what the tailer consumed: the visible records for
// a read_committed tailer, every record for one that read uncommitted
// ones too.
func TestCheckRunDirWriters(t *testing.T) {
	at := rundirtest.Base.Add(50 * time.Millisecond)
	writers := func(visible, aborted int64) rundir.SinkWriters {
		return rundir.SinkWriters{Topic: "cf1", Writers: []rundir.WriterCount{
			{ProducerID: rundir.NoProducer, Epoch: rundir.NoProducer, Attempted: 40, Visible: 40, FirstAppend: at, LastAppend: at},
			{ProducerID: 3, Epoch: 1, Transactional: true, Attempted: visible - 40 + aborted, Visible: visible - 40, Aborted: aborted,
				FirstAppend: at, LastAppend: at.Add(time.Second)},
		}}
	}
	for _, tc := range []struct {
		name          string
		readCommitted bool
		writers       rundir.SinkWriters
		scanErr       string
		reason        string
	}{
		{name: "read_uncommitted, every record", writers: writers(240, 0)},
		{name: "read_uncommitted, a record short", writers: writers(239, 0), reason: "finds 239 records where the tailer consumed 240"},
		{name: "read_committed, aborted records", readCommitted: true, writers: writers(240, 10)},
		{name: "read_committed, a visible record short", readCommitted: true, writers: writers(239, 10),
			reason: "finds 239 visible records where the read_committed tailer consumed 240"},
		{name: "scan failed", writers: writers(240, 0), scanErr: "fetch cf1/0 at 7: EOF", reason: "writer scan of cf1 is incomplete (fetch cf1/0 at 7: EOF)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.EqualValues(t, 240, rundirtest.Write(t, dir, rundirtest.Options{}))
			if tc.readCommitted {
				offs, ok, err := rundir.LoadOffsets(dir)
				require.True(t, ok)
				require.NoError(t, err)
				offs.Isolation = rundir.IsolationReadCommitted
				writeFile(t, filepath.Join(dir, rundir.SinkOffsetsFile), offs)
			}
			tc.writers.Error = tc.scanErr
			writeFile(t, filepath.Join(dir, rundir.SinkWritersFile), tc.writers)
			got, ok, err := rundir.LoadWriters(dir)
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, tc.writers.Writers, got.Writers)

			r, err := rundir.CheckRunDir(dir, slos, rundir.Info{})
			require.NoError(t, err)
			attempted, _, aborted := tc.writers.Totals()
			assert.Equal(t, attempted, r.Counters.Attempted)
			assert.Equal(t, aborted, r.Counters.Aborted)
			require.Len(t, r.SinkWriters, 2)
			w := r.SinkWriters[1]
			assert.Equal(t, result.SinkWriter{ProducerID: 3, Epoch: 1, Transactional: true,
				Attempted: attempted - 40, Visible: attempted - 40 - aborted, Aborted: aborted,
				FirstAppend: at, FirstMs: at.Sub(r.Timings.Start).Milliseconds(),
				LastAppend: at.Add(time.Second), LastMs: at.Add(time.Second).Sub(r.Timings.Start).Milliseconds()}, w)
			if tc.reason == "" {
				assert.Equal(t, result.Pass, r.Verdict.Outcome, "%+v", r.Verdict)
				return
			}
			assert.Equal(t, result.Inconclusive, r.Verdict.Outcome)
			assert.Contains(t, strings.Join(r.Verdict.Reasons, "\n"), tc.reason)
		})
	}
	t.Run("absent", func(t *testing.T) {
		dir := t.TempDir()
		rundirtest.Write(t, dir, rundirtest.Options{})
		r, err := rundir.CheckRunDir(dir, slos, rundir.Info{})
		require.NoError(t, err)
		assert.Empty(t, r.SinkWriters)
		assert.Zero(t, r.Counters.Attempted)
		_, ok, err := rundir.LoadWriters(dir)
		require.NoError(t, err)
		assert.False(t, ok)
	})
}

func writeFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func TestCheckRunChangefeeds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     rundirtest.Options
		info     rundir.Info
		outcome  result.Outcome
		outcomes []result.Outcome
	}{
		{name: "clean", opts: rundirtest.Options{Changefeeds: 3}, outcome: result.Pass,
			outcomes: []result.Outcome{result.Pass, result.Pass, result.Pass}},
		// A gap in one changefeed fails the run, whatever the others did.
		{name: "gap in the last", opts: rundirtest.Options{Changefeeds: 3, Drop: 50, DropFrom: "cf1.3"}, outcome: result.Fail,
			outcomes: []result.Outcome{result.Pass, result.Pass, result.Fail}},
		{name: "gap in the first", opts: rundirtest.Options{Changefeeds: 3, Drop: 50, DropFrom: "cf1"}, info: rundir.Info{Changefeed: "cf1"},
			outcome: result.Fail, outcomes: []result.Outcome{result.Fail, result.Pass, result.Pass}},
		// An environment failure of the run is every changefeed's, and said once.
		{name: "environment", opts: rundirtest.Options{Changefeeds: 3}, info: rundir.Info{EnvErrors: []string{"run interrupted"}},
			outcome: result.Inconclusive, outcomes: []result.Outcome{result.Inconclusive, result.Inconclusive, result.Inconclusive}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rundirtest.Write(t, dir, tc.opts)
			names := []string{"cf1", "cf1.2", "cf1.3"}
			r, subs, err := rundir.CheckRun(dir, slos, tc.info)
			require.NoError(t, err)
			assert.Equal(t, tc.outcome, r.Verdict.Outcome, "%+v", r.Verdict)
			assert.Equal(t, "cf1", r.Changefeed, "the one changefeed without a directory of its own")
			require.Len(t, r.Changefeeds, 3)
			require.Len(t, subs, 2)
			for i, cf := range r.Changefeeds {
				assert.Equal(t, names[i], cf.Changefeed)
				assert.Equal(t, tc.outcomes[i], cf.Verdict.Outcome, cf.Changefeed)
				assert.EqualValues(t, 200+2*20-boolInt(tc.outcomes[i] == result.Fail), cf.Records, cf.Changefeed)
			}
			for i, sub := range subs {
				assert.Equal(t, rundir.ChangefeedDir(dir, names[i+1]), sub.Dir)
				assert.Equal(t, names[i+1], sub.Result.Changefeed)
				assert.Equal(t, rundirtest.Partitions, sub.Result.Counters.Partitions, "from its own drain account")
			}
			inv, _ := r.Invariant(result.Completeness)
			if tc.outcome == result.Fail {
				assert.Equal(t, result.StatusFail, inv.Status)
				assert.EqualValues(t, 1, inv.Violations)
				assert.Equal(t, []string{result.Completeness}, r.Verdict.Violated)
			}
			assert.True(t, strings.HasPrefix(inv.Summary, "cf1: "), inv.Summary)
			if tc.outcome == result.Inconclusive {
				assert.Equal(t, []string{"environment: run interrupted"}, r.Verdict.Reasons)
			}
		})
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
