package scenario

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scenario is one chaos experiment as data: the cluster to start, the load
// to drive through it, the faults to inject and the SLOs to judge it by.
//
// A zero (or omitted) field means its default (see WithDefaults); Load,
// Parse, Lookup and Builtins return scenarios with every default filled in.
type Scenario struct {
	// Name identifies the scenario (run directories are named after it).
	Name string `yaml:"name"`
	// Description is one line for `chaosrun list`.
	Description string `yaml:"description"`
	// Seed fixes the random choices of the fault plan (ranges); 0 is a
	// valid seed.
	Seed int64 `yaml:"seed"`
	// Target is the system under test: cdc (the control plane in system/,
	// the default) or debezium (Debezium Postgres on a Kafka Connect
	// cluster of topology.nodes workers).
	Target string `yaml:"target,omitempty"`
	// Sink is how the cdc target's dispatchers write to Kafka: idempotent
	// (the default; one idempotent producer per dispatcher manager) or txn
	// (a transactional producer per table span and one for watermarks, so
	// the broker fences a superseded writer; the run's tailer then reads
	// read_committed). The debezium target refuses txn: its exactly-once
	// support is its own transactional arm. RunOptions.Sink overrides it.
	Sink     string   `yaml:"sink,omitempty"`
	Topology Topology `yaml:"topology"`
	Workload Workload `yaml:"workload"`
	// Faults are the fault steps, timed from the moment the steady-state
	// gate passed. Empty means a baseline run without faults.
	Faults []FaultStep `yaml:"faults"`
	SLOs   SLOs        `yaml:"slos"`
	// Expect declares what the verdict must be with fencing on and with
	// fencing off; compare and sweep judge the harness against it.
	Expect Expect `yaml:"expect"`
	Steady Steady `yaml:"steady"`
	// RecoveryWindow is how long the workload keeps running after the last
	// heal (default 20s).
	RecoveryWindow time.Duration `yaml:"recovery_window"`
	// DrainDeadline bounds the drain: the workload has stopped and the
	// final watermark must pass the last commit (default 30s).
	DrainDeadline time.Duration `yaml:"drain_deadline"`
	// Timeout bounds the whole run. The default is the worst case of the
	// phases it bounds (steady gate, faults, recovery window, drain) plus
	// ProvisionAllowance.
	Timeout time.Duration `yaml:"timeout"`
}

// Topology is the cluster the scenario starts.
type Topology struct {
	// Nodes is the number of CDC nodes, 1..9 (default 3), numbered 1..N.
	Nodes int `yaml:"nodes"`
	// KafkaBrokers is 1 or 3 (default 1).
	KafkaBrokers int `yaml:"kafka_brokers"`
	// Partitions of the changefeed's topic, 1..64 (default 4).
	Partitions int `yaml:"partitions"`
	// Tables replicated by the changefeed, 1..2000 (default 2), one
	// dispatcher each; 1..64 for the debezium target.
	Tables int `yaml:"tables"`
	// TTL of the nodes' meta-store leases, at least 1s (default 5s).
	TTL time.Duration `yaml:"ttl"`
	// Changefeed is the id of the first changefeed (default "cf1"); targets
	// name it as maintainer-of:<changefeed>.
	Changefeed string `yaml:"changefeed"`
	// Changefeeds is how many changefeeds run, 1..16 (default 1; 1 for the
	// debezium target). Each replicates every table into a topic of its
	// own; the first is Changefeed, the others Changefeed.2, .3, ... Each
	// is judged on its own, and the run passes only if all of them do.
	Changefeeds int `yaml:"changefeeds"`
}

// ChangefeedNames lists the run's changefeeds, the first first.
func (t Topology) ChangefeedNames() []string {
	return ChangefeedNames(cmp.Or(t.Changefeed, DefaultChangefeed), max(t.Changefeeds, 1))
}

// ChangefeedNames names n changefeeds after the first, cf: cf, cf.2, ... cf.n.
func ChangefeedNames(cf string, n int) []string {
	names := []string{cf}
	for k := 2; k <= n; k++ {
		names = append(names, cf+"."+strconv.Itoa(k))
	}
	return names
}

// Workload is the load driven into the upstream during the run.
type Workload struct {
	// Name is append, bank or hotkey (default append).
	Name string `yaml:"name"`
	// Rate is transactions per second (default 200).
	Rate float64 `yaml:"rate"`
	// Workers is the number of concurrent senders, 1..256 (default 4).
	Workers int `yaml:"workers"`
	// RowsPerTxn is the rows each transaction of the append workload
	// writes, 1..1000 (default 1): a rate of R transactions per second
	// commits R×RowsPerTxn rows per second.
	RowsPerTxn int `yaml:"rows_per_txn"`
}

// SLOs are the thresholds the run is judged against.
type SLOs struct {
	// Lag L: sink lag at or below it is healthy (default 3s).
	Lag time.Duration `yaml:"lag"`
	// Window W: lag must stay healthy this long to count as recovered
	// (default 5s).
	Window time.Duration `yaml:"window"`
	// Recovery bounds the lag recovery time after each heal (default 30s).
	Recovery time.Duration `yaml:"recovery"`
	// Zombie bounds how long an uninformed superseded generation (one no
	// newer generation had reached yet) may keep writing, counted from when
	// it could first have learned; 0 (the default) leaves that window
	// reported but not judged. Harmful acts — by a writer or receiver that
	// had already accepted a newer epoch — are always judged, with no
	// tolerance.
	Zombie time.Duration `yaml:"zombie"`
}

// Verdicts a scenario may expect of an arm.
const (
	ExpectPass = "pass"
	ExpectFail = "fail"
	// ExpectEither is for fencing off only: the bug shows in a race the
	// plan does not decide, so the run may pass or fail; the sweep still
	// reports how often it was flagged. It needs a reason.
	ExpectEither = "either"
)

// Expect is what a scenario declares each fencing arm must show. A
// negative control is only worth something if it is declared before the
// run: fencing off must be flagged (fail) unless the scenario says why the
// bug cannot show in it.
type Expect struct {
	// On is the verdict with fencing on, with or without self-fence
	// (default pass).
	On string `yaml:"on"`
	// Off is the verdict with fencing off (default fail), or either.
	Off string `yaml:"off"`
	// Reason says why; required when Off is pass or either.
	Reason string `yaml:"reason,omitempty"`
	// Backends overrides Off for one network backend, where the same plan
	// acts differently: a netns cut drops packets (connections time out and
	// what was queued is lost), a toxiproxy cut holds bytes and delivers
	// them at heal, so a newer generation's message can reach a cut-off
	// receiver before the stale one does.
	Backends []BackendExpect `yaml:"backends,omitempty"`
}

// BackendExpect is a backend's own declaration for fencing off.
type BackendExpect struct {
	Backend string `yaml:"backend"`
	Off     string `yaml:"off"`
	// Reason is required: why this backend differs.
	Reason string `yaml:"reason"`
}

// ForBackend returns the declaration that applies on backend, without
// overrides.
func (e Expect) ForBackend(backend string) Expect {
	out := Expect{On: e.On, Off: e.Off, Reason: e.Reason}
	for _, b := range e.Backends {
		if b.Backend == backend {
			out.Off, out.Reason = b.Off, b.Reason
		}
	}
	return out
}

// Same reports whether e and o declare the same verdicts and reasons.
func (e Expect) Same(o Expect) bool {
	return e.On == o.On && e.Off == o.Off && e.Reason == o.Reason && slices.Equal(e.Backends, o.Backends)
}

// For returns the verdict expected of an arm: Off for an arm whose name
// starts with "off", On otherwise. An arm is judged by its fencing part
// alone: the sink suffix of "off+txn" and "epoch+txn" changes nothing, so
// fencing off must be flagged with either sink.
func (e Expect) For(arm string) string {
	if strings.HasPrefix(arm, "off") {
		return e.Off
	}
	return e.On
}

// Steady is the steady-state gate: faults start only once sink lag stayed
// at or below Lag for Window, and the run is inconclusive if that does not
// happen within Timeout.
type Steady struct {
	// Lag defaults to SLOs.Lag.
	Lag time.Duration `yaml:"lag"`
	// Window defaults to SLOs.Window.
	Window time.Duration `yaml:"window"`
	// Timeout defaults to 60s.
	Timeout time.Duration `yaml:"timeout"`
}

// FaultStep is one fault as the scenario states it: a role target resolved
// when the fault fires, times that may be ranges the seed picks from, and
// an optional repetition.
type FaultStep struct {
	// Kind is what the fault does.
	Kind Kind `yaml:"kind"`
	// Target is a role: owner, maintainer-of:<cf>, bystander, node:<n>,
	// kafka, meta or upstream; for the debezium target task-worker,
	// leader, node:<n> (worker n), kafka or upstream (PostgreSQL). Roles
	// are resolved at fire time, once per occurrence.
	Target string `yaml:"target"`
	// Links are the link sets a network fault acts on between them and the
	// target: a subset of peers, meta, upstream, kafka. Network kinds only.
	Links []string `yaml:"links,omitempty,flow"`
	// Delay is what a delay adds to every packet (netns) or chunk
	// (toxiproxy), 1ms..60s. Required for delay, refused for other kinds.
	// Proving a delay takes probes of about two delays each, which the
	// fault holds on top of Duration: keep it well below Duration.
	Delay time.Duration `yaml:"delay,omitempty"`
	// Loss is the probability, strictly between 0 and 1, that a loss drops
	// each packet. Required for loss, refused for other kinds.
	Loss float64 `yaml:"loss,omitempty"`
	// At is when the (first occurrence of the) fault fires, from the end of
	// the steady-state gate.
	At Range `yaml:"at"`
	// Duration is how long the fault holds before it heals: the cut (hold,
	// delay, loss), the pause, or the time between SIGKILL and restart.
	Duration Range `yaml:"duration"`
	// Repeat repeats the fault (flapping); zero means once.
	Repeat Repeat `yaml:"repeat,omitempty"`
	// Restart is same-id or new-id (default same-id); kill-restart only.
	Restart string `yaml:"restart,omitempty"`
	// Backend is netns or toxiproxy; empty means the run's backend. Network
	// kinds only: process faults work the same on every backend. A loss
	// needs netns.
	Backend string `yaml:"backend,omitempty"`
}

// Repeat makes a fault step fire Count times, Every apart (start to start).
type Repeat struct {
	// Count is the number of occurrences, 2..100; 0 means once.
	Count int `yaml:"count"`
	// Every is the time from one occurrence's start to the next one's; it
	// must exceed the step's longest Duration.
	Every Range `yaml:"every"`
}

// Kind is what a fault step does.
type Kind string

// Fault kinds. The network kinds (isolate, one-way-in, one-way-out, hold,
// delay, loss) act on the links between the target and the link sets and
// run on the step's or the run's backend; the process kinds (pause,
// kill-restart) signal the target's processes.
const (
	// KindIsolate drops all traffic between the target and the link sets,
	// both ways.
	KindIsolate Kind = "isolate"
	// KindOneWayIn drops what the link sets send to the target; the target
	// can still send. How a one-way cut maps onto TCP connections is the
	// chaos backend's business.
	KindOneWayIn Kind = "one-way-in"
	// KindOneWayOut drops what the target sends to the link sets; the target
	// can still receive.
	KindOneWayOut Kind = "one-way-out"
	// KindHold holds all traffic between the target and the link sets,
	// both ways, without dropping it: nothing arrives while it holds, and
	// at heal what was held is delivered, in order, as after a partition
	// in which no retransmission gave up. netns: NFQUEUE rules and a
	// handler in the harness that withholds the verdicts; toxiproxy: the
	// hold toxic, exactly what isolate is there.
	KindHold Kind = "hold"
	// KindDelay delays every packet (netns: NFQUEUE) or every chunk
	// (toxiproxy: the latency toxic) between the target and the link sets,
	// both ways, by the step's Delay.
	KindDelay Kind = "delay"
	// KindLoss drops each packet between the target and the link sets,
	// both ways, with the step's Loss probability (iptables statistic
	// match). netns only: toxiproxy relays TCP streams and has no packets
	// to lose.
	KindLoss Kind = "loss"
	// KindPause stops the target's processes (SIGSTOP) and resumes them
	// (SIGCONT) at heal.
	KindPause Kind = "pause"
	// KindKillRestart kills the target's processes (SIGKILL) and restarts
	// them at heal.
	KindKillRestart Kind = "kill-restart"
)

// Kinds lists every fault kind.
func Kinds() []Kind {
	return []Kind{KindIsolate, KindOneWayIn, KindOneWayOut, KindHold, KindDelay, KindLoss, KindPause, KindKillRestart}
}

// Network reports whether k acts on links (and so takes Links and
// Backend).
func (k Kind) Network() bool {
	switch k {
	case KindIsolate, KindOneWayIn, KindOneWayOut, KindHold, KindDelay, KindLoss:
		return true
	}
	return false
}

// Process reports whether k signals the target's processes.
func (k Kind) Process() bool { return k == KindPause || k == KindKillRestart }

// Target roles. maintainer-of and node take an argument after a colon:
// "maintainer-of:cf1", "node:2".
const (
	TargetOwner = "owner"
	// TargetBystander is, at fire time, the lowest-numbered CDC node that
	// is neither the owner nor the node of the changefeed's maintainer.
	TargetBystander    = "bystander"
	TargetMaintainerOf = "maintainer-of"
	TargetNode         = "node"
	TargetKafka        = "kafka"
	TargetMeta         = "meta"
	TargetUpstream     = "upstream"
	// TargetTaskWorker is, at fire time, the Connect worker running the
	// connector's task (debezium target).
	TargetTaskWorker = "task-worker"
	// TargetLeader is, at fire time, the Connect group's leader (debezium
	// target).
	TargetLeader = "leader"
)

// Systems under test (Scenario.Target).
const (
	TargetCDC      = "cdc"
	TargetDebezium = "debezium"
)

// Sink modes of the cdc target (Scenario.Sink, RunOptions.Sink); empty
// means SinkIdempotent.
const (
	SinkIdempotent = "idempotent"
	SinkTxn        = "txn"
)

// SinkOf returns the sink mode a run of sc uses: override (a RunOptions.Sink
// or --sink) when set, else the scenario's, else SinkIdempotent.
func SinkOf(sc Scenario, override string) string {
	switch {
	case override != "":
		return override
	case sc.Sink != "":
		return sc.Sink
	}
	return SinkIdempotent
}

// MaintainerOf returns the target of the node running cf's maintainer.
func MaintainerOf(cf string) string { return TargetMaintainerOf + ":" + cf }

// WithChangefeed returns the scenario with its changefeeds (and so their
// topics) renamed after cf; faults aimed at an old changefeed's
// maintainer follow it.
func (s Scenario) WithChangefeed(cf string) Scenario {
	rename := s.changefeedRenamer(cf)
	s.Faults = slices.Clone(s.Faults)
	for i := range s.Faults {
		s.Faults[i].Target = rename(s.Faults[i].Target)
	}
	s.Topology.Changefeed = cf
	return s
}

// changefeedRenamer returns what WithChangefeed(cf) makes of a fault
// target: one aimed at a changefeed's maintainer follows it, any other
// stays.
func (s Scenario) changefeedRenamer(cf string) func(target string) string {
	old := s.Topology.ChangefeedNames()
	renamed := ChangefeedNames(cf, len(old))
	return func(target string) string {
		role, arg := SplitTarget(target)
		if k := slices.Index(old, arg); role == TargetMaintainerOf && k >= 0 {
			return MaintainerOf(renamed[k])
		}
		return target
	}
}

// SplitTarget splits a target into its role and argument:
// "node:2" → ("node", "2"), "owner" → ("owner", "").
func SplitTarget(target string) (role, arg string) {
	role, arg, _ = strings.Cut(target, ":")
	return role, arg
}

// Link sets a network fault acts on between them and its target.
const (
	// LinkPeers is every other CDC node.
	LinkPeers = "peers"
	// LinkMeta is the meta store (etcd).
	LinkMeta = "meta"
	// LinkUpstream is the upstream source.
	LinkUpstream = "upstream"
	// LinkKafka is every Kafka broker.
	LinkKafka = "kafka"
)

// Links lists every link set.
func Links() []string { return []string{LinkPeers, LinkMeta, LinkUpstream, LinkKafka} }

// Backends a network fault may name.
const (
	BackendNetns     = "netns"
	BackendToxiproxy = "toxiproxy"
)

// Restart modes of kill-restart.
const (
	// RestartSameID restarts the node under its old id, as a process
	// restart does.
	RestartSameID = "same-id"
	// RestartNewID restarts the node under a new id, as a replaced machine
	// does. CDC nodes only.
	RestartNewID = "new-id"
)

// Workload names.
const (
	WorkloadAppend = "append"
	WorkloadBank   = "bank"
	WorkloadHotkey = "hotkey"
)

// Workloads lists the workload names a scenario may use.
func Workloads() []string { return []string{WorkloadAppend, WorkloadBank, WorkloadHotkey} }

// Defaults that WithDefaults fills in.
const (
	DefaultNodes          = 3
	DefaultKafkaBrokers   = 1
	DefaultPartitions     = 4
	DefaultTables         = 2
	DefaultTTL            = 5 * time.Second
	DefaultChangefeed     = "cf1"
	DefaultWorkload       = WorkloadAppend
	DefaultRate           = 200
	DefaultWorkers        = 4
	DefaultLag            = 3 * time.Second
	DefaultWindow         = 5 * time.Second
	DefaultRecovery       = 30 * time.Second
	DefaultSteadyTimeout  = 60 * time.Second
	DefaultRecoveryWindow = 20 * time.Second
	DefaultDrainDeadline  = 30 * time.Second
	// ProvisionAllowance is the time the default Timeout allows for
	// provisioning, checking and teardown on top of the timed phases.
	ProvisionAllowance = 60 * time.Second
)

// WithDefaults returns a deep copy of s with every zero field set to its
// default. Empty Links and Faults become nil, so equal scenarios compare
// equal whichever way they were built.
func (s Scenario) WithDefaults() Scenario {
	s = s.Clone()
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.Topology.Nodes, DefaultNodes)
	def(&s.Topology.KafkaBrokers, DefaultKafkaBrokers)
	def(&s.Topology.Partitions, DefaultPartitions)
	def(&s.Topology.Tables, DefaultTables)
	defD(&s.Topology.TTL, DefaultTTL)
	if s.Topology.Changefeed == "" {
		s.Topology.Changefeed = DefaultChangefeed
	}
	def(&s.Topology.Changefeeds, 1)
	if s.Workload.Name == "" {
		s.Workload.Name = DefaultWorkload
	}
	if s.Workload.Rate == 0 {
		s.Workload.Rate = DefaultRate
	}
	def(&s.Workload.Workers, DefaultWorkers)
	def(&s.Workload.RowsPerTxn, 1)
	defD(&s.SLOs.Lag, DefaultLag)
	defD(&s.SLOs.Window, DefaultWindow)
	defD(&s.SLOs.Recovery, DefaultRecovery)
	if s.Expect.On == "" {
		s.Expect.On = ExpectPass
	}
	if s.Expect.Off == "" {
		s.Expect.Off = ExpectFail
	}
	defD(&s.Steady.Lag, s.SLOs.Lag)
	defD(&s.Steady.Window, s.SLOs.Window)
	defD(&s.Steady.Timeout, DefaultSteadyTimeout)
	defD(&s.RecoveryWindow, DefaultRecoveryWindow)
	defD(&s.DrainDeadline, DefaultDrainDeadline)
	if len(s.Faults) == 0 {
		s.Faults = nil
	}
	for i := range s.Faults {
		f := &s.Faults[i]
		if len(f.Links) == 0 {
			f.Links = nil
		}
		if f.Kind == KindKillRestart && f.Restart == "" {
			f.Restart = RestartSameID
		}
	}
	defD(&s.Timeout, satAdd(ProvisionAllowance, s.phases()))
	return s
}

// Clone returns a deep copy of s.
func (s Scenario) Clone() Scenario {
	s.Expect.Backends = slices.Clone(s.Expect.Backends)
	s.Faults = slices.Clone(s.Faults)
	for i := range s.Faults {
		s.Faults[i].Links = slices.Clone(s.Faults[i].Links)
	}
	return s
}

// FaultsEnd is the latest time, from the end of the steady-state gate, at
// which any fault step of any seed's plan can heal.
func (s Scenario) FaultsEnd() time.Duration {
	var end time.Duration
	for _, f := range s.Faults {
		_, e := f.window()
		end = max(end, e)
	}
	return end
}

// phases is the worst-case length of the phases Timeout bounds.
func (s Scenario) phases() time.Duration {
	return satAdd(satAdd(s.Steady.Timeout, s.FaultsEnd()), satAdd(s.RecoveryWindow, s.DrainDeadline))
}

// occurrences is the number of times f fires.
func (f FaultStep) occurrences() int { return max(f.Repeat.Count, 1) }

// window returns the earliest start and the latest heal of f over every
// seed: [At.Min, At.Max + (n-1)·Every.Max + Duration.Max).
func (f FaultStep) window() (start, end time.Duration) {
	end = f.At.Max
	for range f.occurrences() - 1 {
		end = satAdd(end, f.Repeat.Every.Max)
	}
	return f.At.Min, satAdd(end, f.Duration.Max)
}

// satAdd adds without wrapping around.
func satAdd(a, b time.Duration) time.Duration {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return time.Duration(1<<63 - 1)
	case a < 0 && b < 0 && s >= 0:
		return time.Duration(-1 << 63)
	}
	return s
}

// Range is a duration, or a closed range of durations the plan's seed picks
// from. Its text form is "10s" or "10s..20s".
type Range struct {
	Min, Max time.Duration
}

// Fixed returns the range holding only d.
func Fixed(d time.Duration) Range { return Range{Min: d, Max: d} }

// Between returns the range lo..hi.
func Between(lo, hi time.Duration) Range { return Range{Min: lo, Max: hi} }

// ParseRange parses "10s" or "10s..20s" (Go duration syntax; spaces around
// ".." allowed).
func ParseRange(text string) (Range, error) {
	lo, hi, isRange := strings.Cut(text, "..")
	parse := func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return 0, fmt.Errorf("want a duration like 10s or a range like 10s..20s, got %q", text)
		}
		return d, nil
	}
	first, err := parse(lo)
	if err != nil {
		return Range{}, err
	}
	if !isRange {
		return Fixed(first), nil
	}
	last, err := parse(hi)
	if err != nil {
		return Range{}, err
	}
	if first > last {
		return Range{}, fmt.Errorf("range %q: %v is after %v", text, first, last)
	}
	return Between(first, last), nil
}

// String returns the text form, "10s" or "10s..20s".
func (r Range) String() string {
	if r.Min == r.Max {
		return r.Min.String()
	}
	return r.Min.String() + ".." + r.Max.String()
}

// IsZero reports whether r is 0s (an omitted range).
func (r Range) IsZero() bool { return r == Range{} }

// IsFixed reports whether r holds a single duration.
func (r Range) IsFixed() bool { return r.Min == r.Max }

// MarshalText implements encoding.TextMarshaler (YAML and JSON use it).
func (r Range) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Range) UnmarshalText(text []byte) error {
	v, err := ParseRange(string(text))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// pick draws from r in whole milliseconds above Min. It draws nothing from
// rng when r is fixed, so fixing one range does not shift later draws.
func (r Range) pick(rng *rand.Rand) time.Duration {
	steps := int64((r.Max - r.Min) / time.Millisecond)
	if steps <= 0 {
		return r.Min
	}
	return r.Min + time.Duration(rng.Int64N(steps+1))*time.Millisecond
}
