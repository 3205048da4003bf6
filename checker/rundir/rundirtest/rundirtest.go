// Package rundirtest writes small, consistent run directories for tests of
// the checker's file side and of `chaosrun check`: a record dump made
// through the same adapter the tailer uses, the upstream change log in the
// upstream's own format, the epoch history, a decision log, the fault
// timeline and the tailer's drain account.
package rundirtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/checker"
	"github.com/chaosrun/chaosrun/checker/rundir"
	"github.com/chaosrun/chaosrun/evidence"
)

// Base is the origin of every time in a generated run.
var Base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Options shape a generated run. The zero value is a clean run of 200 rows
// that passes.
type Options struct {
	// Rows is the number of row changes (default 200), one every RowEvery
	// (default 10 ms) over Keys keys (default 20) in 2 partitions, with a
	// watermark broadcast after every 10 rows.
	Rows     int
	RowEvery time.Duration
	Keys     int
	// Drop leaves row i out of the dump (a gap) when Drop > 0; of
	// DropFrom's dump only, when set.
	Drop     int
	DropFrom string
	// Changefeeds, when more than 1, makes a run of that many changefeeds
	// (cf1, cf1.2, ...), each with the same stream in a dump of its own.
	Changefeeds int
	// Fault adds fault f1 (inject at 25% of the run, heal at 40%), effective
	// unless Ineffective.
	Fault       bool
	Ineffective bool
	// NoOffsets leaves out sink-offsets.json (the tailer never drained);
	// Short makes it claim one record more than the dump holds.
	NoOffsets bool
	Short     bool
}

// Partitions is the partition count of a generated run.
const Partitions = 2

// Write fills dir (which must exist) with a run and returns the number of
// records in its dump.
func Write(tb testing.TB, dir string, o Options) int {
	tb.Helper()
	o = o.withDefaults()
	writeChangeLog(tb, dir, o)
	var epochs []evidence.Epoch
	records := 0
	for i := 1; i <= max(o.Changefeeds, 1); i++ {
		cf, sinkDir := "cf1", dir
		if i > 1 {
			cf = "cf1." + strconv.Itoa(i)
			sinkDir = rundir.ChangefeedDir(dir, cf)
			require.NoError(tb, os.MkdirAll(sinkDir, 0o755))
		}
		n := writeSink(tb, sinkDir, cf, o)
		if i == 1 {
			records = n
		}
		epochs = append(epochs, evidence.Epoch{Changefeed: cf, Epoch: 1, GrantedAt: Base.Add(-time.Second), Node: "n1", Revision: 7 + int64(i)})
	}
	writeJSON(tb, filepath.Join(dir, evidence.EpochsFile), epochs)
	decisions, err := os.Create(filepath.Join(dir, evidence.DecisionsFile("n1")))
	require.NoError(tb, err)
	enc := json.NewEncoder(decisions)
	require.NoError(tb, enc.Encode(evidence.Decision{Time: Base, Node: "n1", Role: "maintainer", Changefeed: "cf1",
		Message: "CheckpointTsMessage", MsgEpoch: 1, LocalEpoch: 1, Sender: "n1", Verdict: "Accept", Acted: true}))
	require.NoError(tb, decisions.Close())
	writeJSON(tb, filepath.Join(dir, rundir.FaultsFile), o.faults())
	return records
}

// writeSink writes changefeed cf's dump and drain account into sinkDir
// and returns the number of records in the dump.
func writeSink(tb testing.TB, sinkDir, cf string, o Options) int {
	offsets, records := writeDump(tb, sinkDir, cf, o)
	if !o.NoOffsets {
		so := rundir.SinkOffsets{Topic: cf, DrainedAt: Base.Add(time.Hour), Records: int64(records)}
		for p := range int32(Partitions) {
			so.Partitions = append(so.Partitions, rundir.PartitionOffset{Partition: p, High: offsets[p], Next: offsets[p]})
		}
		if o.Short {
			so.Partitions[0].High++
		}
		writeJSON(tb, filepath.Join(sinkDir, rundir.SinkOffsetsFile), so)
	}
	return records
}

func (o Options) withDefaults() Options {
	if o.Rows == 0 {
		o.Rows = 200
	}
	if o.RowEvery == 0 {
		o.RowEvery = 10 * time.Millisecond
	}
	if o.Keys == 0 {
		o.Keys = 20
	}
	return o
}

func (o Options) faults() []checker.FaultEvent {
	if !o.Fault && !o.Ineffective {
		return nil
	}
	span := time.Duration(o.Rows) * o.RowEvery
	return []checker.FaultEvent{{ID: "f1", Kind: "partition", TargetRole: "owner", TargetProcess: "n1",
		Inject: Base.Add(span / 4), Heal: Base.Add(span * 4 / 10), Effective: !o.Ineffective}}
}

// dumpWriter appends records to the dump, numbering offsets per partition.
type dumpWriter struct {
	tb      testing.TB
	w       *bufio.Writer
	offsets [Partitions]int64
	records int
	buf     []byte
}

func (d *dumpWriter) emit(r evidence.Record) {
	r.Offset = d.offsets[r.Partition]
	d.offsets[r.Partition]++
	rec := rundir.Record(r)
	d.buf = checker.AppendDumpRecord(d.buf[:0], &rec)
	_, err := d.w.Write(d.buf)
	require.NoError(d.tb, err)
	d.records++
}

// writeChangeLog writes the upstream change log: one row change every
// RowEvery.
func writeChangeLog(tb testing.TB, dir string, o Options) {
	require.NoError(tb, os.MkdirAll(filepath.Join(dir, "upstream"), 0o755))
	logf, err := os.Create(filepath.Join(dir, rundir.ChangeLogPath))
	require.NoError(tb, err)
	logw := bufio.NewWriter(logf)
	for i := 1; i <= o.Rows; i++ {
		ts := checker.ComposeTS(Base.Add(time.Duration(i)*o.RowEvery).UnixMilli(), 0)
		_, err := fmt.Fprintf(logw, `{"commit_ts":%d,"rows":[{"table":"t1","pk":%d,"op":"update","columns":{"v":%q,"n":%d}}]}`+"\n",
			ts, int64(i%o.Keys), strconv.Itoa(i), i)
		require.NoError(tb, err)
	}
	require.NoError(tb, logw.Flush())
	require.NoError(tb, logf.Close())
}

// writeDump writes changefeed cf's dump of the change log into sinkDir: a
// row per change, a watermark broadcast after every ten.
func writeDump(tb testing.TB, sinkDir, cf string, o Options) (offsets [Partitions]int64, records int) {
	recf, err := os.Create(filepath.Join(sinkDir, rundir.SinkRecordsFile))
	require.NoError(tb, err)
	defer func() { require.NoError(tb, recf.Close()) }()
	dump := &dumpWriter{tb: tb, w: bufio.NewWriter(recf)}
	for i := 1; i <= o.Rows; i++ {
		at := Base.Add(time.Duration(i) * o.RowEvery)
		ts := checker.ComposeTS(at.UnixMilli(), 0)
		pk := int64(i % o.Keys)
		v := strconv.Itoa(i)
		if i != o.Drop || (o.DropFrom != "" && o.DropFrom != cf) {
			// Columns as the node renders them: strings quoted, ints bare.
			dump.emit(evidence.Record{
				Partition: int32(pk % Partitions), Timestamp: at.Add(5 * time.Millisecond), Kind: evidence.KindRow,
				Changefeed: cf, Epoch: 1, Node: "n1",
				Row: &evidence.Row{Changefeed: cf, Epoch: 1, Node: "n1", Dispatcher: "d" + strconv.Itoa(int(pk%Partitions)),
					Table: "t1", PK: pk, Op: evidence.OpUpdate, CommitTs: ts, Columns: map[string]string{"v": strconv.Quote(v), "n": v}},
			})
		}
		if i%10 == 0 {
			for p := range int32(Partitions) {
				dump.emit(evidence.Record{Partition: p, Timestamp: at.Add(6 * time.Millisecond), Kind: evidence.KindWatermark, Changefeed: cf, Epoch: 1, Node: "n1",
					Watermark: &evidence.Watermark{Changefeed: cf, Epoch: 1, Node: "n1", Ts: ts}})
			}
		}
	}
	require.NoError(tb, dump.w.Flush())
	return dump.offsets, dump.records
}

func writeJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(tb, err)
	require.NoError(tb, os.WriteFile(path, append(b, '\n'), 0o644))
}
