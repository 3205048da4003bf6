package rundir

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// File names in a run directory (docs/run-dir.md).
const (
	// SinkRecordsFile is the tailer's dump of the changefeed topic: one
	// checker.Record per record, length-delimited protobuf (checker.ReadDump).
	SinkRecordsFile = "sink-records.pb"
	// legacyRecordsFile is the dump's name when it was JSON lines; a run
	// directory holding it is named as such rather than as empty.
	legacyRecordsFile = "sink-records.jsonl"
	// SinkOffsetsFile is the tailer's account of the topic when it drained
	// it (SinkOffsets): what the dump must hold.
	SinkOffsetsFile = "sink-offsets.json"
	// SinkMalformedFile lists the records that did not decode (Malformed),
	// one per line; absent when there were none.
	SinkMalformedFile = "sink-malformed.jsonl"
	// SinkWritersFile is the tailer's account, made when it drained, of who
	// wrote the topic (SinkWriters): each writer generation's records,
	// committed or aborted.
	SinkWritersFile = "sink-writers.json"
	// FaultsFile is the fault timeline ([]checker.FaultEvent).
	FaultsFile = "faults.json"
)

// ChangeLogPath is the upstream change log, relative to the run directory.
var ChangeLogPath = filepath.Join("upstream", "changelog.jsonl")

// ErrNotRunDir means a directory is missing, or lacks the files every run
// directory has.
var ErrNotRunDir = errors.New("rundir: not a run directory")

// ErrInput means a file of the run directory exists but cannot be read or
// does not parse.
var ErrInput = errors.New("rundir: unreadable input")

// IsolationReadCommitted is SinkOffsets.Isolation for a tailer that
// consumed with isolation level read_committed.
const IsolationReadCommitted = "read_committed"

// SinkOffsets is what the tailer saw of the topic when it drained it. The
// dump of a plain topic is complete when it holds Σ (High − Oldest)
// records, counting the malformed and skipped ones (Kafka offsets of a
// plain, non-transactional topic without compaction are dense). A topic
// read with Isolation read_committed has sparse offsets (transaction
// markers, aborted records): its dump is complete when every partition's
// Next reached High and the dump holds the Records the tailer wrote.
type SinkOffsets struct {
	Topic      string            `json:"topic"`
	DrainedAt  time.Time         `json:"drained_at"`
	Partitions []PartitionOffset `json:"partitions"`
	// Records and Malformed count the records the tailer wrote to
	// SinkRecordsFile and SinkMalformedFile; Skipped those it read but that
	// carry no change (evidence.ErrNotChange: tombstones, a connector's own
	// heartbeats).
	Records   int64 `json:"records"`
	Malformed int64 `json:"malformed"`
	Skipped   int64 `json:"skipped,omitempty"`
	// Isolation is IsolationReadCommitted when the tailer read only
	// committed records; "" for read_uncommitted.
	Isolation string `json:"isolation,omitempty"`
}

// Sparse reports whether the topic's offsets may have gaps, so that the
// dump is judged by position rather than by count.
func (o SinkOffsets) Sparse() bool { return o.Isolation == IsolationReadCommitted }

// PartitionOffset is one partition of SinkOffsets.
type PartitionOffset struct {
	Partition int32 `json:"partition"`
	// Oldest is the first offset still in the log; High the offset the next
	// record would get (the high watermark) when the tailer drained, or,
	// read_committed, the last stable offset.
	Oldest int64 `json:"oldest"`
	High   int64 `json:"high"`
	// Next is the offset after the last record the tailer consumed; read
	// committed, the consumer's position, which passes transaction markers
	// and aborted records the tailer verified hold nothing visible.
	Next int64 `json:"next"`
}

// Total is Σ (High − Oldest): the records in the topic when it drained.
func (o SinkOffsets) Total() int64 {
	var n int64
	for _, p := range o.Partitions {
		n += max(0, p.High-p.Oldest)
	}
	return n
}

// Malformed is one record of the topic that did not decode as a cdc record.
type Malformed struct {
	Partition  int32     `json:"partition"`
	Offset     int64     `json:"offset"`
	AppendTime time.Time `json:"append_time"`
	Key        string    `json:"key,omitempty"`
	Error      string    `json:"error"`
}

// SinkWriters is what each writer generation of the topic wrote, from a
// scan of the record batches the tailer made when it drained the topic. A
// writer generation is a batch's producer id and epoch: a new producer, or
// a new owner of a transactional id fencing the old one, starts one.
type SinkWriters struct {
	Topic     string    `json:"topic"`
	ScannedAt time.Time `json:"scanned_at"`
	// Partitions are the offset ranges scanned.
	Partitions []ScannedRange `json:"partitions"`
	// Writers are ordered by producer id and epoch.
	Writers []WriterCount `json:"writers"`
	// Error says why the scan is incomplete or inconsistent; "" when it
	// read every range to its end and the broker's account agreed with
	// itself.
	Error string `json:"error,omitempty"`
}

// ScannedRange is the part of one partition a writer scan read: the data
// records at offsets From ≤ o < Reached. To is where it meant to stop (the
// position the tailer drained to); Reached < To when the scan stopped
// early.
type ScannedRange struct {
	Partition int32 `json:"partition"`
	From      int64 `json:"from"`
	To        int64 `json:"to"`
	Reached   int64 `json:"reached"`
}

// NoProducer is WriterCount.ProducerID (and Epoch) for records written
// without a producer id: neither idempotent nor transactional.
const NoProducer = -1

// WriterCount is what one writer generation wrote to the topic. Attempted
// counts its data records (transaction markers excluded); Visible those a
// read_committed consumer sees (not transactional, or committed); Aborted
// those in aborted transactions: a fenced zombie's open transaction, a
// killed task's. FirstAppend and LastAppend are the max timestamps of its
// first and last batch: the broker's append time on a LogAppendTime topic.
type WriterCount struct {
	ProducerID    int64     `json:"producer_id"`
	Epoch         int16     `json:"epoch"`
	Transactional bool      `json:"transactional"`
	Attempted     int64     `json:"attempted"`
	Visible       int64     `json:"visible"`
	Aborted       int64     `json:"aborted"`
	FirstAppend   time.Time `json:"first_append"`
	LastAppend    time.Time `json:"last_append"`
	// VisibleAfterFenced counts the visible records this writer appended
	// after a newer epoch of its producer id first appended: a fenced
	// generation's writes that readers still see (transactional ids only;
	// the broker should make it 0).
	VisibleAfterFenced int64 `json:"visible_after_fenced"`
	// Runs are the offsets of its visible records, so that a record of the
	// dump can be attributed to the writer that wrote it.
	Runs []OffsetRun `json:"runs,omitempty"`
}

// OffsetRun is a range of offsets [From, To] of one partition.
type OffsetRun struct {
	Partition int32 `json:"partition"`
	From      int64 `json:"from"`
	To        int64 `json:"to"`
}

// Name names the writer in the checker's terms (a record's node): the
// producer id and epoch.
func (w WriterCount) Name() string {
	if w.ProducerID == NoProducer {
		return "producer none"
	}
	return fmt.Sprintf("producer %d.%d", w.ProducerID, w.Epoch)
}

// WriterIndex finds the writer of a record by partition and offset.
type WriterIndex map[int32][]writerRun

type writerRun struct {
	from, to int64
	name     string
}

// Index returns the writers' visible runs, for WriterOf.
func (w SinkWriters) Index() WriterIndex {
	ix := WriterIndex{}
	for _, c := range w.Writers {
		for _, r := range c.Runs {
			ix[r.Partition] = append(ix[r.Partition], writerRun{r.From, r.To, c.Name()})
		}
	}
	for _, runs := range ix {
		slices.SortFunc(runs, func(a, b writerRun) int { return cmp.Compare(a.from, b.from) })
	}
	return ix
}

// WriterOf names the writer of the record at offset of partition p, or ""
// when no scanned run holds it.
func (ix WriterIndex) WriterOf(p int32, offset int64) string {
	runs := ix[p]
	i, _ := slices.BinarySearchFunc(runs, offset, func(r writerRun, off int64) int { return cmp.Compare(r.from, off) })
	// runs[i-1] is the last run starting at or before offset (i when equal).
	if i < len(runs) && runs[i].from == offset {
		return runs[i].name
	}
	if i > 0 && runs[i-1].to >= offset {
		return runs[i-1].name
	}
	return ""
}

// Totals sums the writers' counts.
func (w SinkWriters) Totals() (attempted, visible, aborted int64) {
	for _, c := range w.Writers {
		attempted += c.Attempted
		visible += c.Visible
		aborted += c.Aborted
	}
	return attempted, visible, aborted
}
