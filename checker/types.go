package checker

import (
	"fmt"
	"time"
)

// Kind tells a row record from a watermark record (header cdc-kind).
type Kind uint8

const (
	// KindUnknown is the zero value; records of this kind are input errors.
	KindUnknown Kind = iota
	// KindRow is a row change (cdc-kind=row).
	KindRow
	// KindWatermark is a watermark (cdc-kind=watermark): every row with
	// commit_ts ≤ WatermarkTs is already in the partition before it.
	KindWatermark
)

// String returns the header spelling of the kind.
func (k Kind) String() string {
	switch k {
	case KindRow:
		return "row"
	case KindWatermark:
		return "watermark"
	default:
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
}

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "row":
		*k = KindRow
	case "watermark":
		*k = KindWatermark
	default:
		return fmt.Errorf("checker: unknown record kind %q", b)
	}
	return nil
}

// OpDelete is the op of a row deletion; its columns are not compared.
const OpDelete = "delete"

// Columns are a row's column values in canonical text: a JSON string value
// is its contents, any other JSON value its compact JSON text. Adapters must
// convert both the Kafka records and the upstream change log the same way so
// that equal values compare equal.
type Columns map[string]string

// UnmarshalJSON accepts any JSON object and canonicalises its values; it
// is UnmarshalJSONFrom for encoding/json.
func (c *Columns) UnmarshalJSON(b []byte) error {
	return UnmarshalJSON(b, c)
}

// Record is one consumed Kafka record of the changefeed topic, decoded from
// its key, JSON value and cdc-* headers. Row fields are zero on watermarks
// and WatermarkTs is zero on rows.
type Record struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
	// AppendTime is the broker's LogAppendTime (millisecond precision).
	AppendTime time.Time `json:"append_time"`
	Kind       Kind      `json:"kind"`
	Changefeed string    `json:"changefeed,omitempty"`

	Table    string  `json:"table,omitempty"`
	PK       int64   `json:"pk,omitempty"`
	Op       string  `json:"op,omitempty"`
	CommitTs uint64  `json:"commit_ts,omitempty"`
	Columns  Columns `json:"columns,omitempty"`

	// Epoch is the cdc-epoch header: the generation that wrote the record.
	Epoch      uint64 `json:"epoch"`
	Node       string `json:"node"`
	Dispatcher string `json:"dispatcher,omitempty"`
	// Seen is the highest epoch the writer had accepted when it wrote the
	// record (cdc-seen-epoch); Epoch < Seen means the writer acted for a
	// generation it already knew to be superseded. 0: not recorded.
	Seen uint64 `json:"seen,omitempty"`
	// DispatcherEpoch is the epoch of the maintainer that created the row's
	// dispatcher and DispatcherSeen the highest epoch its manager had
	// accepted then; DispatcherEpoch < DispatcherSeen marks an orphan
	// dispatcher. 0: not recorded.
	DispatcherEpoch uint64 `json:"dispatcher_epoch,omitempty"`
	DispatcherSeen  uint64 `json:"dispatcher_seen,omitempty"`

	WatermarkTs uint64 `json:"watermark_ts,omitempty"`
}

// Change is one entry of the upstream's committed change log, the ground
// truth the sink is compared with.
type Change struct {
	CommitTs uint64  `json:"commit_ts"`
	Table    string  `json:"table"`
	PK       int64   `json:"pk"`
	Op       string  `json:"op"`
	Columns  Columns `json:"columns,omitempty"`
}

// EpochGrant is one entry of the epoch history: Epoch was granted to the
// maintainer on Node at GrantedAt (the coordinator's wall clock).
type EpochGrant struct {
	Changefeed string    `json:"changefeed,omitempty"`
	Epoch      uint64    `json:"epoch"`
	GrantedAt  time.Time `json:"granted_at"`
	Node       string    `json:"node"`
}

// DecisionEntry is one line of a node's fencing decision log: what a
// receiver did with an incoming control message.
type DecisionEntry struct {
	Time       time.Time `json:"time"`
	Changefeed string    `json:"changefeed,omitempty"`
	Node       string    `json:"node"`
	Role       string    `json:"role"`
	MsgType    string    `json:"msg_type"`
	MsgEpoch   uint64    `json:"msg_epoch"`
	LocalEpoch uint64    `json:"local_epoch"`
	Sender     string    `json:"sender"`
	Verdict    string    `json:"verdict"`
	// Acted is true when the receiver changed state because of the message.
	Acted bool `json:"acted"`
}

// FaultEvent is one fault of the timeline. Heal is zero for a fault that was
// never healed (a kill, or a run that ended first).
//
// It is also the schema of a run directory's faults.json: a JSON array of
// these objects, for example
//
//	[{"id": "f1", "kind": "partition", "target_role": "owner",
//	  "target_process": "n1", "inject": "2026-01-01T00:00:10Z",
//	  "heal": "2026-01-01T00:00:25Z", "effective": true}]
//
// with RFC 3339 instants; "heal" is omitted for a fault never healed. The
// runner converts its own fault records (package chaos) into it.
type FaultEvent struct {
	ID            string    `json:"id"`
	Kind          string    `json:"kind"`
	TargetRole    string    `json:"target_role,omitempty"`
	TargetProcess string    `json:"target_process,omitempty"`
	Inject        time.Time `json:"inject"`
	Heal          time.Time `json:"heal,omitzero"`
	// Effective is true when the harness verified the fault took effect.
	Effective bool `json:"effective"`
}

// SLOs are the thresholds a run is judged against.
type SLOs struct {
	// L: lag at or below it is healthy.
	L time.Duration
	// W: lag must stay healthy this long to count as recovered.
	W time.Duration
	// RecoveryBound bounds the judged recovery time; 0 means unbounded.
	RecoveryBound time.Duration
	// AllowedZombie bounds the window of an uninformed superseded
	// generation's writes past the moment it could have learned; 0 leaves
	// it unjudged. Harmful acts are judged regardless.
	AllowedZombie time.Duration
}

// RunInfo is what the runner knows about the run; the checker copies it into
// the Result.
type RunInfo struct {
	Scenario    string
	Seed        int64
	FencingMode string
}

// BankConfig enables the balance-sum check for a bank workload.
type BankConfig struct {
	// Table holds the accounts; Column the integer balance.
	Table  string
	Column string
	// Initial is every account's balance before its first row (0 when the
	// accounts are created while the changefeed runs). The workload only
	// transfers, so the balances summed at every global watermark must equal
	// the sum of the initial balances.
	Initial int64
}

// Config holds the checker's small inputs, all known before the records are
// fed: the run's identity, its SLOs, the epoch history, the decision logs
// and the fault timeline.
type Config struct {
	Run        RunInfo
	Changefeed string
	SLOs       SLOs
	// Partitions is the topic's partition count; 0 means the partitions seen
	// in the records. Lag is undefined until each of them has a watermark.
	Partitions int
	Grants     []EpochGrant
	Decisions  []DecisionEntry
	Faults     []FaultEvent
	// Start and End bound the observed window; zero means the first and last
	// append time seen.
	Start, End time.Time
	// Step is the lag sampling interval; 0 means 100 ms, the maximum.
	Step time.Duration
	// NoChangeLog says there is no upstream change log: completeness and the
	// value comparison are skipped and rows are not buffered for matching.
	// Without it, every row must eventually be matched by an AddChange.
	NoChangeLog bool
	// StartTs is the changefeed's start ts: changes committed before it are
	// not expected in the topic and are ignored.
	StartTs uint64
	// Bank, when set, adds the balance-sum check to watermark honesty.
	Bank *BankConfig
	// NoWatermarkPromise says the target's watermarks are progress signals
	// only: they do not promise that every row at or below them is already
	// in the partition (Debezium's heartbeats: PostgreSQL commit times are
	// not ordered with commit order at microsecond scale). Watermark
	// honesty then does not judge rows appended after a watermark covering
	// them; it still compares op and columns with the change log. Lag,
	// completeness against the final watermark, duplicates and per-key
	// order are judged as usual.
	NoWatermarkPromise bool
	// ExactlyOnce says the target promises each change once to a
	// read_committed consumer (Debezium with exactly-once source support
	// required): a duplicate is then a completeness violation, not a replay
	// the judge tolerates. The same bar is applied to both arms of an A/B,
	// so the arm without the promise shows what it costs.
	ExactlyOnce bool
	// RowProgress makes every row's commit ts a progress mark for lag, as a
	// watermark is: the target emits a partition's changes in commit order
	// (Debezium: lag is source.ts to LogAppendTime for every record, its
	// heartbeats cover idle periods).
	RowProgress bool
	// EnvErrors are environment failures the runner saw; any makes the run
	// inconclusive.
	EnvErrors []string
	// MaxExamples bounds the examples kept per invariant; 0 means 10.
	MaxExamples int
}
