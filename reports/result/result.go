package result

import "time"

// SchemaVersion is the version of the result.json schema this package reads
// and writes.
const SchemaVersion = 1

// Disclaimer is the text every report carries about what a seed fixes.
const Disclaimer = "the plan replays exactly; the run itself is not deterministic"

// Outcome is the overall verdict of a run.
type Outcome string

const (
	// Pass means every invariant held and every judged recovery met its bound.
	Pass Outcome = "pass"
	// Fail means at least one invariant was violated.
	Fail Outcome = "fail"
	// Inconclusive means the run cannot be judged: a fault did not take
	// effect, or the environment (or the recorded input) failed.
	Inconclusive Outcome = "inconclusive"
)

// Status is the outcome of one invariant.
type Status string

const (
	// StatusPass means the invariant held.
	StatusPass Status = "pass"
	// StatusFail means the invariant was violated at least once.
	StatusFail Status = "fail"
	// StatusSkipped means the invariant could not be evaluated (its input was
	// missing); Invariant.Summary says why.
	StatusSkipped Status = "skipped"
)

// Class tells whether an invariant is about safety (something bad never
// happened) or liveness (something good happened in time).
type Class string

const (
	// Safety invariants fail the run even when the environment misbehaved.
	Safety Class = "safety"
	// Liveness invariants are judged only when the run was conclusive.
	Liveness Class = "liveness"
)

// Names of the invariants, in report order. They are stable identifiers: the
// JUnit test case names and the verdict's Violated list use them.
const (
	LagRecovery      = "lag-recovery"
	StaleGeneration  = "stale-generation"
	Completeness     = "completeness"
	Order            = "order"
	WatermarkHonesty = "watermark-honesty"
)

// Judging records the promises a target makes that change how the checker
// judges it, so that checking a run directory again judges it the same way.
type Judging struct {
	// NoWatermarkPromise: watermarks are progress signals; the order of
	// rows before them is not judged.
	NoWatermarkPromise bool `json:"no_watermark_promise,omitempty"`
	// ExactlyOnce: a duplicate is a completeness violation.
	ExactlyOnce bool `json:"exactly_once,omitempty"`
	// RowProgress: every row's commit ts is a progress mark for lag.
	RowProgress bool `json:"row_progress,omitempty"`
}

// Result is everything one run established. It is written as result.json.
type Result struct {
	SchemaVersion int    `json:"schema_version"`
	Scenario      string `json:"scenario"`
	Seed          int64  `json:"seed"`
	// Disclaimer is always Disclaimer; it is stored so that result.json read
	// on its own says what the seed does and does not fix.
	Disclaimer  string `json:"disclaimer"`
	FencingMode string `json:"fencing_mode"`
	Changefeed  string `json:"changefeed,omitempty"`
	// Judging is what the target promised and so how it was judged; zero
	// for the control plane in system/.
	Judging Judging `json:"judging"`

	Timings Timings `json:"timings"`
	SLOs    SLOs    `json:"slos"`
	Faults  []Fault `json:"faults"`
	// Epochs is the changefeed's epoch history (grants), oldest first.
	Epochs []Epoch `json:"epochs"`

	Lag           Lag            `json:"lag"`
	Latency       Latency        `json:"latency"`
	Recoveries    []Recovery     `json:"recoveries"`
	StaleEpochs   []StaleEpoch   `json:"stale_epochs"`
	StaleMessages []StaleMessage `json:"stale_messages"`
	Swimlanes     []Swimlane     `json:"swimlanes"`

	// SinkWriters are the writer generations of the sink topic, from the
	// tailer's scan of its record batches; empty without that scan.
	SinkWriters []SinkWriter `json:"sink_writers,omitempty"`

	Invariants []Invariant `json:"invariants"`
	Counters   Counters    `json:"counters"`
	Verdict    Verdict     `json:"verdict"`

	// Changefeeds, in a run of more than one changefeed, are each
	// changefeed's own verdict, the first's (Changefeed, checked in this
	// directory) first; the others' results are in their own directories.
	// The Invariants and the Verdict above are over every changefeed
	// (AddChangefeed); everything else is the first's.
	Changefeeds []ChangefeedVerdict `json:"changefeeds,omitempty"`
}

// SinkWriter is what one writer generation, a Kafka producer id and epoch,
// wrote to the sink topic. ProducerID and Epoch are -1 for records written
// without a producer id. Attempted counts its records (transaction markers
// excluded), Visible those a read_committed consumer sees, Aborted those in
// aborted transactions. FirstAppend and LastAppend are the append times of
// its first and last batch (the producer's create time on a CreateTime
// topic).
type SinkWriter struct {
	ProducerID    int64 `json:"producer_id"`
	Epoch         int16 `json:"epoch"`
	Transactional bool  `json:"transactional"`
	Attempted     int64 `json:"attempted"`
	Visible       int64 `json:"visible"`
	Aborted       int64 `json:"aborted"`
	// VisibleAfterFenced are the visible records it appended after a newer
	// epoch of its producer id first appended (a fenced generation's writes
	// that readers see; the broker should make it 0).
	VisibleAfterFenced int64     `json:"visible_after_fenced"`
	FirstAppend        time.Time `json:"first_append"`
	FirstMs            int64     `json:"first_ms"`
	LastAppend         time.Time `json:"last_append"`
	LastMs             int64     `json:"last_ms"`
}

// Timings bounds the observed window. Start is the origin of every *_ms field.
type Timings struct {
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	DurationMs int64     `json:"duration_ms"`
	// Phases are the runner's named stretches (steady state, fault, drain);
	// the checker leaves them empty.
	Phases []Phase `json:"phases,omitempty"`
}

// Phase is a named stretch of the run.
type Phase struct {
	Name    string `json:"name"`
	StartMs int64  `json:"start_ms"`
	EndMs   int64  `json:"end_ms"`
}

// SLOs are the thresholds the run was judged against.
type SLOs struct {
	// LagMs is L: lag at or below it counts as healthy.
	LagMs int64 `json:"lag_ms"`
	// StableMs is W: lag must stay healthy this long to count as recovered.
	StableMs int64 `json:"stable_ms"`
	// RecoveryBoundMs bounds the judged recovery time; 0 means unbounded.
	RecoveryBoundMs int64 `json:"recovery_bound_ms"`
	// AllowedZombieMs is how long a superseded generation may keep acting; 0
	// means not at all.
	AllowedZombieMs int64 `json:"allowed_zombie_ms"`
}

// Fault is one injected fault and what the lag did while it was in force.
type Fault struct {
	ID            string    `json:"id"`
	Kind          string    `json:"kind"`
	TargetRole    string    `json:"target_role,omitempty"`
	TargetProcess string    `json:"target_process,omitempty"`
	Inject        time.Time `json:"inject"`
	InjectMs      int64     `json:"inject_ms"`
	Healed        bool      `json:"healed"`
	Heal          time.Time `json:"heal,omitzero"`
	HealMs        int64     `json:"heal_ms,omitempty"`
	// Effective is false when the harness could not verify the fault took
	// effect; such a fault makes the run inconclusive.
	Effective bool `json:"effective"`
	// PeakLagMs is the highest defined lag sampled between inject and heal
	// (or the end of the window when never healed).
	PeakLagMs int64 `json:"peak_lag_ms"`
	// CatchUp is the backlog the fault built and how fast it drained; nil
	// without a change log to count commits from.
	CatchUp *CatchUp `json:"catch_up,omitempty"`
}

// CatchUp is what a fault left to drain: the backlog (upstream changes
// committed and not yet in the topic, first copies only) and the rate the
// pipeline cleared it at, from the backlog's peak to the first recovery
// from the fault after it (the failover's while the fault still holds,
// else the heal's). Counts resolve to 100 ms.
type CatchUp struct {
	BacklogAtInject int64 `json:"backlog_at_inject"`
	BacklogAtHeal   int64 `json:"backlog_at_heal"`
	// PeakBacklog is the highest backlog from the inject to the last
	// recovery from the fault (or the end of the window), at PeakMs.
	PeakBacklog int64 `json:"peak_backlog"`
	PeakMs      int64 `json:"peak_ms"`
	// Drained is true when the lag recovered after the peak; then DrainMs
	// is the time from the peak, and the rates are taken over it.
	Drained            bool    `json:"drained"`
	DrainMs            int64   `json:"drain_ms,omitempty"`
	DrainRowsPerSec    float64 `json:"drain_rows_per_s,omitempty"`
	IncomingRowsPerSec float64 `json:"incoming_rows_per_s,omitempty"`
	// PipelineRowsPerSec is the most the pipeline delivered in any second
	// of the run: its measured capacity.
	PipelineRowsPerSec float64 `json:"pipeline_rows_per_s"`
	// ExpectedDrainMs is what the backlog the fault added (peak less the
	// backlog at inject) needs at the pipeline's capacity less the
	// incoming rate (0 when nothing was added or no capacity is spare).
	ExpectedDrainMs int64 `json:"expected_drain_ms,omitempty"`
}

// Epoch is one grant in the changefeed's epoch history.
type Epoch struct {
	Epoch     uint64    `json:"epoch"`
	Node      string    `json:"node"`
	GrantedAt time.Time `json:"granted_at"`
	GrantedMs int64     `json:"granted_ms"`
}

// Lag is the sink lag timeline: lag(t) = t − physical(global watermark
// visible at t), where the global watermark is the minimum over partitions
// of the highest watermark appended to each partition by t.
type Lag struct {
	// StepMs is the sampling interval (at most 100).
	StepMs  int64       `json:"step_ms"`
	Samples []LagSample `json:"samples"`
	// FirstDefinedMs is when every partition first had a watermark, or -1.
	FirstDefinedMs int64 `json:"first_defined_ms"`
	// MaxLagMs is the highest defined sample.
	MaxLagMs int64 `json:"max_lag_ms"`
	// FinalLagMs is the lag at the end of the window (valid if FinalDefined).
	FinalLagMs   int64 `json:"final_lag_ms"`
	FinalDefined bool  `json:"final_defined"`
	// FinalWatermark is the global watermark (a TSO) at the end of the window;
	// 0 when it was never defined.
	FinalWatermark uint64 `json:"final_watermark"`
}

// LagSample is the lag at one instant. Undefined samples (some partition had
// no watermark yet) carry LagMs 0 and must not be read as healthy.
type LagSample struct {
	TMs       int64 `json:"t_ms"`
	LagMs     int64 `json:"lag_ms"`
	Undefined bool  `json:"undefined,omitempty"`
}

// Latency summarises per-record end-to-end latency, LogAppendTime −
// physical(commit_ts), over first deliveries (rows that raised their key's
// highest commit_ts); replays and duplicates are counted in Excluded.
// Percentiles come from a log-linear histogram: exact below 128 ms, within
// 1/64 above.
type Latency struct {
	Rows     int64 `json:"rows"`
	P50Ms    int64 `json:"p50_ms"`
	P95Ms    int64 `json:"p95_ms"`
	P99Ms    int64 `json:"p99_ms"`
	MaxMs    int64 `json:"max_ms"`
	Excluded int64 `json:"excluded"`
	// Negative counts rows appended before their commit time (clock skew);
	// they are counted as 0 ms.
	Negative int64 `json:"negative,omitempty"`
}

// Recovery is the lag recovery measured from one anchor (a fault's inject or
// heal): the first instant from which lag stays ≤ L for W.
type Recovery struct {
	FaultID string `json:"fault_id"`
	// Anchor is "inject" or "heal".
	Anchor   string `json:"anchor"`
	AnchorMs int64  `json:"anchor_ms"`
	// Judged is true for the anchor held against the recovery bound (the heal,
	// or the inject of a fault that was never healed).
	Judged bool `json:"judged"`
	// Recovered is false when lag did not stay ≤ L for W before DeadlineMs;
	// that is a result ("not recovered by the deadline"), not missing data.
	Recovered   bool  `json:"recovered"`
	RecoveredMs int64 `json:"recovered_ms,omitempty"`
	DurationMs  int64 `json:"duration_ms,omitempty"`
	DeadlineMs  int64 `json:"deadline_ms"`
	// PeakLagMs is the highest defined lag from the anchor to the end of the
	// proof window (RecoveredMs + W), or to the deadline when not recovered.
	PeakLagMs int64 `json:"peak_lag_ms"`
	PeakMs    int64 `json:"peak_ms"`
	// DrainAllowanceMs raises the recovery bound for this fault by the time
	// the backlog it added needs at the pipeline's measured capacity (its
	// CatchUp.ExpectedDrainMs); 0 without a bound or a measured backlog.
	DrainAllowanceMs int64 `json:"drain_allowance_ms,omitempty"`
	// WithinBound is Recovered and DurationMs ≤ the recovery bound plus
	// DrainAllowanceMs.
	WithinBound bool `json:"within_bound"`
}

// StaleEpoch sums up what a superseded epoch wrote to the topic after it was
// superseded (its zombie window).
type StaleEpoch struct {
	Epoch        uint64 `json:"epoch"`
	Owner        string `json:"owner,omitempty"`
	SupersededBy uint64 `json:"superseded_by"`
	SupersededMs int64  `json:"superseded_ms"`
	Rows         int64  `json:"rows"`
	Watermarks   int64  `json:"watermarks"`
	FirstMs      int64  `json:"first_ms"`
	LastMs       int64  `json:"last_ms"`
	// WindowMs is LastMs − SupersededMs: how long the zombie kept writing.
	WindowMs int64 `json:"window_ms"`
	// Harmful counts the records of Rows and Watermarks whose writer had
	// already accepted a newer epoch (see Counters.HarmfulRows).
	Harmful int64       `json:"harmful"`
	Writers []NodeCount `json:"writers"`
	// Tolerated is true when the window is within the allowed zombie window.
	Tolerated bool `json:"tolerated"`
}

// NodeCount is a number of records attributed to one node.
type NodeCount struct {
	Node    string `json:"node"`
	Records int64  `json:"records"`
}

// StaleMessage is a control message of a superseded epoch that its receiver
// acted on, from the nodes' decision logs.
type StaleMessage struct {
	AtMs         int64  `json:"at_ms"`
	Node         string `json:"node"`
	Role         string `json:"role"`
	MsgType      string `json:"msg_type"`
	MsgEpoch     uint64 `json:"msg_epoch"`
	LocalEpoch   uint64 `json:"local_epoch"`
	GrantedEpoch uint64 `json:"granted_epoch"`
	Sender       string `json:"sender"`
	Verdict      string `json:"verdict"`
	// LatenessMs is how long after MsgEpoch was superseded the message was
	// acted on.
	LatenessMs int64  `json:"lateness_ms"`
	Reason     string `json:"reason"`
	// Effect says what acting on the message changed.
	Effect string `json:"effect"`
	// Harmful is true when the receiver had already accepted a newer epoch
	// (MsgEpoch < LocalEpoch): it changed state a newer generation owned.
	Harmful bool `json:"harmful"`
	// Tolerated is true for an act that is not judged: the receiver was
	// still on the message's epoch and no rule could have refused it.
	Tolerated bool `json:"tolerated"`
}

// Swimlane is one node's writing activity over time, split by epoch.
type Swimlane struct {
	Node string `json:"node"`
	Bars []Bar  `json:"bars"`
}

// Bar is a stretch during which a node wrote records under one epoch.
type Bar struct {
	Epoch      uint64 `json:"epoch"`
	StartMs    int64  `json:"start_ms"`
	EndMs      int64  `json:"end_ms"`
	Rows       int64  `json:"rows"`
	Watermarks int64  `json:"watermarks"`
	// Stale counts the records in the bar written after the epoch was
	// superseded.
	Stale int64 `json:"stale"`
}

// Invariant is the outcome of one checked property.
type Invariant struct {
	Name       string    `json:"name"`
	Class      Class     `json:"class"`
	Status     Status    `json:"status"`
	Summary    string    `json:"summary"`
	Violations int64     `json:"violations"`
	Examples   []Example `json:"examples,omitempty"`
}

// Example is one concrete violation (the first few of each invariant).
type Example struct {
	Kind    string `json:"kind"`
	AtMs    int64  `json:"at_ms"`
	Message string `json:"message"`
}

// Counters are totals over the run.
type Counters struct {
	Records    int64 `json:"records"`
	Rows       int64 `json:"rows"`
	Watermarks int64 `json:"watermarks"`
	Partitions int   `json:"partitions"`
	Keys       int64 `json:"keys"`
	Changes    int64 `json:"changes"`

	Duplicates   int64      `json:"duplicates"`
	DuplicatesBy []GenCount `json:"duplicates_by,omitempty"`
	Replays      int64      `json:"replays"`
	ReplaysBy    []GenCount `json:"replays_by,omitempty"`

	Missing              int64 `json:"missing"`
	Phantoms             int64 `json:"phantoms"`
	BeyondFinalWatermark int64 `json:"beyond_final_watermark"`
	LateRows             int64 `json:"late_rows"`
	ValueMismatches      int64 `json:"value_mismatches"`
	BalanceViolations    int64 `json:"balance_violations"`
	OrderViolations      int64 `json:"order_violations"`

	StaleRows             int64 `json:"stale_rows"`
	StaleWatermarks       int64 `json:"stale_watermarks"`
	StaleMessagesAccepted int64 `json:"stale_messages_accepted"`
	// HarmfulRows and HarmfulWatermarks were written under an epoch below
	// the highest one their writer had accepted; OrphanRows by a dispatcher
	// created by an older generation than its manager had accepted;
	// HarmfulMessages are stale control messages acted on by a receiver that
	// had accepted a newer epoch. Each is judged with no tolerance.
	HarmfulRows          int64 `json:"harmful_rows"`
	HarmfulWatermarks    int64 `json:"harmful_watermarks"`
	OrphanRows           int64 `json:"orphan_rows"`
	HarmfulMessages      int64 `json:"harmful_messages"`
	WatermarkRegressions int64 `json:"watermark_regressions"`

	// InputErrors counts inconsistencies in the recorded input itself
	// (offsets going back in a partition, an out-of-order change log, a key
	// in two partitions, unknown record kinds); any makes the run
	// inconclusive.
	InputErrors int64 `json:"input_errors"`
	// Foreign counts records of another changefeed, ignored.
	Foreign int64 `json:"foreign,omitempty"`
	// Attempted counts the records written to the sink topic, visible or
	// not, and Aborted those in aborted transactions (a fenced zombie's, a
	// killed writer's); both from the tailer's writer scan, 0 without it.
	Attempted int64 `json:"attempted,omitempty"`
	Aborted   int64 `json:"aborted,omitempty"`
	// VisibleAfterFenced sums the writers' VisibleAfterFenced.
	VisibleAfterFenced int64 `json:"visible_after_fenced,omitempty"`
}

// GenCount is a number of records attributed to one generation (epoch, node).
type GenCount struct {
	Epoch   uint64 `json:"epoch"`
	Node    string `json:"node"`
	Records int64  `json:"records"`
}

// Verdict is the overall judgement.
type Verdict struct {
	Outcome Outcome `json:"outcome"`
	// Violated names each violated invariant, in report order.
	Violated []string `json:"violated,omitempty"`
	// Reasons explains an inconclusive outcome (and notes that did not
	// change the outcome).
	Reasons []string `json:"reasons,omitempty"`
}

// Invariant returns the named invariant and whether it is present.
func (r *Result) Invariant(name string) (Invariant, bool) {
	for _, inv := range r.Invariants {
		if inv.Name == name {
			return inv, true
		}
	}
	return Invariant{}, false
}
