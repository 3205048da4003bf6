package checker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chaosrun/chaosrun/reports/result"
)

// workload generates a synthetic run: rows over keys spread across
// partitions, each preceded by its upstream change, watermarks on every
// partition every 100 ms, 10 rows per millisecond, and a generation change
// halfway through after which partition 0 keeps writing under the old epoch
// for 200 ms (a tolerated zombie).
type workload struct {
	r             *rand.Rand
	keys          int
	partitions    int
	total         int
	records       int
	clock         int64 // Unix ms
	logical       uint64
	lastWatermark int64
	offsets       []int64
	lastAppend    []int64
	switchAt      int64
	columns       []Columns
}

const wlPartitions = 4

func newWorkload(keys, total int) *workload {
	w := &workload{
		r: rand.New(rand.NewPCG(1, 2)), keys: keys, partitions: wlPartitions, total: total,
		clock: base.UnixMilli(), offsets: make([]int64, wlPartitions), lastAppend: make([]int64, wlPartitions),
	}
	w.lastWatermark = w.clock
	for i := range 64 {
		w.columns = append(w.columns, Columns{"v": strconv.Itoa(i), "note": "bench"})
	}
	// About 4% of the records are watermarks.
	w.switchAt = w.clock + int64(total/2)/10
	return w
}

func (w *workload) config() Config {
	return Config{
		Partitions: w.partitions,
		SLOs:       SLOs{L: time.Second, W: time.Second, RecoveryBound: 5 * time.Second, AllowedZombie: time.Second},
		Grants: []EpochGrant{
			{Epoch: 1, GrantedAt: time.UnixMilli(w.clock - 1000), Node: "n1"},
			{Epoch: 2, GrantedAt: time.UnixMilli(w.switchAt), Node: "n2"},
		},
		Faults: []FaultEvent{{ID: "f1", Kind: "partition", Inject: time.UnixMilli(w.switchAt - 2000),
			Heal: time.UnixMilli(w.switchAt + 1000), Effective: true}},
	}
}

type wlEvent struct {
	ch        Change
	rec       Record
	hasChange bool
}

func (w *workload) epochFor(p int) (uint64, string) {
	if w.clock < w.switchAt || (p == 0 && w.clock < w.switchAt+200) {
		return 1, "n1"
	}
	return 2, "n2"
}

func (w *workload) appendTime(p int, lat int64) time.Time {
	t := max(w.lastAppend[p], w.clock+lat)
	w.lastAppend[p] = t
	return time.UnixMilli(t)
}

// fill writes the next events into buf and returns how many records they
// hold; it stops when the workload is exhausted.
func (w *workload) fill(buf []wlEvent) (events []wlEvent, records int) {
	events = buf[:0]
	for len(events) < cap(buf)-w.partitions && w.records < w.total {
		if w.clock-w.lastWatermark >= 100 {
			w.lastWatermark = w.clock
			for p := range w.partitions {
				e, n := w.epochFor(p)
				events = append(events, wlEvent{rec: Record{Partition: int32(p), Offset: w.offsets[p], AppendTime: w.appendTime(p, 1),
					Kind: KindWatermark, WatermarkTs: ComposeTS(w.clock-20, 0), Epoch: e, Node: n}})
				w.offsets[p]++
				w.records++
				records++
			}
			continue
		}
		pk := int64(w.r.IntN(w.keys))
		p := int(pk % int64(w.partitions))
		ts := ComposeTS(w.clock, w.logical)
		cols := w.columns[w.r.IntN(len(w.columns))]
		e, n := w.epochFor(p)
		events = append(events, wlEvent{
			hasChange: true,
			ch:        Change{CommitTs: ts, Table: "orders", PK: pk, Op: "put", Columns: cols},
			rec: Record{Partition: int32(p), Offset: w.offsets[p], AppendTime: w.appendTime(p, 3+int64(w.r.IntN(10))), Kind: KindRow,
				Table: "orders", PK: pk, Op: "put", CommitTs: ts, Columns: cols, Epoch: e, Node: n, Dispatcher: "d" + strconv.Itoa(p)},
		})
		w.offsets[p]++
		w.records++
		records++
		w.logical++
		if w.logical == 10 {
			w.logical = 0
			w.clock++
		}
	}
	return events, records
}

// runWorkload feeds a whole workload; when b is set, generation is kept out
// of the timing.
func runWorkload(tb testing.TB, b *testing.B, keys, total int, beforeFinish func(*Checker)) *result.Result {
	w := newWorkload(keys, total)
	c, err := New(w.config())
	require.NoError(tb, err)
	buf := make([]wlEvent, 0, 1<<15)
	for {
		if b != nil {
			b.StopTimer()
		}
		events, n := w.fill(buf)
		if b != nil {
			b.StartTimer()
		}
		if n == 0 {
			break
		}
		for i := range events {
			if events[i].hasChange {
				c.AddChange(events[i].ch)
			}
			c.Add(events[i].rec)
		}
	}
	if beforeFinish != nil {
		beforeFinish(c)
	}
	return c.Finish()
}

// BenchmarkChecker feeds a generated 1,000,000-record topic (and its change
// log) through the accumulator, Finish included. records/s is the figure of
// merit (goal ≥ 500k); heap-MB is the live heap before Finish, which should
// follow the key count, not the record count.
func BenchmarkChecker(b *testing.B) {
	for _, tc := range []struct{ keys, records int }{
		{10_000, 250_000},
		{10_000, 1_000_000},
		{100_000, 1_000_000},
	} {
		b.Run(fmt.Sprintf("keys=%d/records=%d", tc.keys, tc.records), func(b *testing.B) {
			b.ReportAllocs()
			var heap uint64
			for range b.N {
				res := runWorkload(b, b, tc.keys, tc.records, func(*Checker) {
					b.StopTimer()
					heap = liveHeap()
					b.StartTimer()
				})
				if res.Counters.Records != int64(tc.records) || res.Verdict.Outcome != result.Pass {
					b.Fatalf("records %d verdict %+v", res.Counters.Records, res.Verdict)
				}
			}
			b.ReportMetric(float64(tc.records*b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(tc.records*b.N), "ns/record")
			b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
		})
	}
}

// BenchmarkFeed1M is the file side of `chaosrun check`: it encodes the
// generated 1,000,000-record topic as the tailer dumps it (protobuf) and its
// change log as the upstream writes it (JSON, one transaction per line),
// untimed, then
// decodes and checks both with Feed, Finish included. records/s and
// allocs/record are the figures of merit; records/cpu-s, from the process's
// CPU time, is the steadier one on a busy machine.
//
//	go test -run '^$' -bench BenchmarkFeed1M -benchmem ./checker/
func BenchmarkFeed1M(b *testing.B) {
	const keys, total = 10_000, 1_000_000
	w := newWorkload(keys, total)
	cfg := w.config()
	var changes, records []byte
	buf := make([]wlEvent, 0, 1<<15)
	for {
		events, n := w.fill(buf)
		if n == 0 {
			break
		}
		for i := range events {
			e := &events[i]
			if e.hasChange {
				line, err := json.Marshal(changeLine{Change: Change{CommitTs: e.ch.CommitTs}, Rows: []changeRow{
					{Table: e.ch.Table, PK: e.ch.PK, Op: e.ch.Op, Columns: e.ch.Columns},
				}})
				require.NoError(b, err)
				changes = append(append(changes, line...), '\n')
			}
			records = AppendDumpRecord(records, &e.rec)
		}
	}
	b.SetBytes(int64(len(changes) + len(records)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := processCPU()
	b.ResetTimer()
	for range b.N {
		c, err := New(cfg)
		require.NoError(b, err)
		require.NoError(b, Feed(c, bytes.NewReader(changes), bytes.NewReader(records)))
		res := c.Finish()
		if res.Counters.Records != total || res.Verdict.Outcome != result.Pass {
			b.Fatalf("records %d verdict %+v", res.Counters.Records, res.Verdict)
		}
	}
	b.StopTimer()
	cpu = processCPU() - cpu
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "records/s")
	if cpu > 0 {
		b.ReportMetric(float64(total*b.N)/cpu.Seconds(), "records/cpu-s")
	}
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(total*b.N), "allocs/record")
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestSteadyStateKeepsNoPerRecordState checks the memory claim structurally:
// with changes fed before their rows, nothing is buffered per record.
func TestSteadyStateKeepsNoPerRecordState(t *testing.T) {
	res := runWorkload(t, nil, 500, 50_000, func(c *Checker) {
		var expected, pending int
		for _, s := range c.completeness.perKey {
			expected += len(s.expected) - s.expectedHead
			pending += len(s.pending)
		}
		require.Zero(t, pending, "rows buffered although their changes came first")
		require.Zero(t, expected, "changes left unmatched")
		require.Equal(t, 500, c.keys.len())
	})
	require.Equal(t, result.Pass, res.Verdict.Outcome, "%+v", res.Verdict)
	require.NotEmpty(t, res.StaleEpochs, "the generated zombie window")
	require.True(t, res.StaleEpochs[0].Tolerated)
}
