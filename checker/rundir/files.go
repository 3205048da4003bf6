package rundir

import (
	"errors"
	"path/filepath"
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

// SinkOffsets is what the tailer saw of the topic when it drained it. The
// dump is complete when it holds Σ (High − Oldest) records, counting the
// malformed ones (Kafka offsets of a plain, non-transactional topic without
// compaction are dense).
type SinkOffsets struct {
	Topic      string            `json:"topic"`
	DrainedAt  time.Time         `json:"drained_at"`
	Partitions []PartitionOffset `json:"partitions"`
	// Records and Malformed count the records the tailer wrote to
	// SinkRecordsFile and SinkMalformedFile.
	Records   int64 `json:"records"`
	Malformed int64 `json:"malformed"`
}

// PartitionOffset is one partition of SinkOffsets.
type PartitionOffset struct {
	Partition int32 `json:"partition"`
	// Oldest is the first offset still in the log; High the offset the next
	// record would get (the high watermark) when the tailer drained.
	Oldest int64 `json:"oldest"`
	High   int64 `json:"high"`
	// Next is the offset after the last record the tailer consumed.
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
