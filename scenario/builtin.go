package scenario

import "time"

// ciTopology is the built-ins' cluster: the defaults with a 3 s lease TTL,
// so that a 10 s fault holds well past it and a run stays short.
// ciSLOs are the defaults but for lag L = 1 s, which the control plane
// earns: its steady lag is 0.4-0.6 s at the 200 ms watermark interval, and
// BenchmarkFailoverScale measured failover within the TTL plus 2 s at that
// L up to 2,000 dispatchers. Harmful acts of a superseded generation are
// judged with no tolerance, and the writes of a generation that no newer
// one had reached yet are reported, not judged (see SLOs.Zombie).
var ciSLOs = SLOs{Lag: time.Second}

var ciTopology = Topology{Nodes: 3, KafkaBrokers: 1, Partitions: 4, Tables: 2, TTL: 3 * time.Second}

// inFlightTopology has four tables, so that a replaced node is sure to
// host spans once a new maintainer spreads them again.
var inFlightTopology = Topology{Nodes: 3, KafkaBrokers: 1, Partitions: 4, Tables: 4, TTL: 3 * time.Second}

// ciWorkload is the built-ins' load.
var ciWorkload = Workload{Name: WorkloadAppend, Rate: 200, Workers: 4}

// builtins are the scenarios `chaosrun list` shows, as literals. Zero fields
// take their defaults: SLOs L 3s (1s for the cdc target's, ciSLOs), W 5s,
// recovery 30s, zombie 0; steady gate at L for W within 60s; recovery window 20s; drain 30s; timeout computed.
// Each is sized for CI: well under 90 s from provisioning to report on an
// idle machine.
var builtins = []Scenario{
	{
		Name:        "owner-isolation",
		Description: "Cut the owner from peers, meta and upstream (Kafka kept) for 10s, past the 3s TTL, then heal",
		Seed:        1,
		Topology:    ciTopology,
		Workload:    ciWorkload,
		SLOs:        ciSLOs,
		Expect: Expect{On: ExpectPass, Off: ExpectPass, Reason: "the isolated generation has nothing in flight: its bootstrap " +
			"finished before the cut, it can reach no peer until the heal, and then the new coordinator removes it before it " +
			"sends a stale bootstrap or schedule; stale-bootstrap-in-flight is this fault with a bootstrap in flight",
			Backends: []BackendExpect{{Backend: BackendToxiproxy, Off: ExpectEither, Reason: "a toxiproxy cut holds the bytes " +
				"and delivers them at heal: what the stale maintainer sent during the cut (a resent bootstrap, a schedule) " +
				"lands in one burst with the new generation's messages, usually after receivers accepted the newer epoch " +
				"(flagged 7 of 10 over two 5-seed sweeps)"}}},
		Faults: []FaultStep{{
			Kind:     KindIsolate,
			Target:   TargetOwner,
			Links:    []string{LinkPeers, LinkMeta, LinkUpstream},
			At:       Between(3*time.Second, 6*time.Second),
			Duration: Fixed(10 * time.Second),
		}},
	},
	{
		Name:        "owner-meta-cut",
		Description: "Cut the maintainer's node from meta only for 10s, past the 3s TTL: a zombie keeping peers and Kafka",
		Seed:        1,
		Topology:    ciTopology,
		Workload:    ciWorkload,
		SLOs:        ciSLOs,
		Expect: Expect{On: ExpectPass, Off: ExpectEither, Reason: "a race the plan does not decide: the zombie keeps its " +
			"peers but has nothing in flight, unless its meta link comes back with its own lease's expiry before the " +
			"coordinator removes it; then it reschedules its spans onto nodes that accepted the newer epoch (orphan " +
			"dispatchers) and re-bootstraps its own dispatcher manager (measured over two 5-seed sweeps: flagged 1 of 10 on toxiproxy, 0 of 10 on netns)"},
		Faults: []FaultStep{{
			Kind:     KindIsolate,
			Target:   MaintainerOf(DefaultChangefeed),
			Links:    []string{LinkMeta},
			At:       Between(3*time.Second, 6*time.Second),
			Duration: Fixed(10 * time.Second),
		}},
	},
	{
		Name:        "stale-bootstrap-in-flight",
		Description: "Maintainer cut from peers bootstraps a node rejoining under a new id, then loses its lease",
		Seed:        1,
		Topology:    inFlightTopology,
		Workload:    ciWorkload,
		// With fencing on the new generation owns every dispatcher manager
		// before the heal, so lag must be back within the TTL plus a second;
		// with fencing off a manager is left to a dead generation and lag
		// never comes back (TiCDC #5179).
		SLOs: SLOs{Lag: ciSLOs.Lag, Recovery: 4 * time.Second},
		Faults: []FaultStep{
			{
				// The maintainer keeps its lease (and so its generation) but
				// can reach no peer: whatever it sends now stays unanswered.
				Kind:     KindIsolate,
				Target:   MaintainerOf(DefaultChangefeed),
				Links:    []string{LinkPeers},
				At:       Between(3*time.Second, 4*time.Second),
				Duration: Between(17*time.Second, 18*time.Second),
			},
			{
				// A replaced machine: the maintainer sees a new node and
				// bootstraps it, into the cut.
				Kind:     KindKillRestart,
				Target:   TargetBystander,
				At:       Between(4500*time.Millisecond, 5500*time.Millisecond),
				Duration: Fixed(time.Second),
				Restart:  RestartNewID,
			},
			{
				// Now the lease goes: a new generation takes the changefeed
				// over while the old maintainer still waits for its answer.
				// The meta link comes back at least 1.5s before the peers, so
				// the old node is a member again when its queued bootstrap
				// goes out: a peer refuses a non-member's stream, and the
				// envelope it carried is lost.
				Kind:     KindIsolate,
				Target:   MaintainerOf(DefaultChangefeed),
				Links:    []string{LinkMeta},
				At:       Between(10*time.Second, 11*time.Second),
				Duration: Between(6500*time.Millisecond, 7500*time.Millisecond),
			},
		},
	},
	{
		Name:        "owner-isolation-flapping",
		Description: "Cut the owner from peers, meta and upstream 4 times for 2-4s each, around the 3s TTL",
		Seed:        1,
		Topology:    ciTopology,
		Workload:    ciWorkload,
		SLOs:        ciSLOs,
		Expect: Expect{On: ExpectPass, Off: ExpectEither, Reason: "four short cuts around the TTL: whether a stale message " +
			"is in flight when a newer generation takes over depends on timing the plan does not fix (flagged 1 of 2 on netns)"},
		Faults: []FaultStep{{
			Kind:     KindIsolate,
			Target:   TargetOwner,
			Links:    []string{LinkPeers, LinkMeta, LinkUpstream},
			At:       Between(3*time.Second, 5*time.Second),
			Duration: Between(2*time.Second, 4*time.Second),
			Repeat:   Repeat{Count: 4, Every: Between(6*time.Second, 8*time.Second)},
		}},
	},
	{
		Name:        "owner-pause",
		Description: "Freeze the owner's process (SIGSTOP) for 10s, past the 3s TTL, then resume it (SIGCONT)",
		Seed:        1,
		Topology:    ciTopology,
		Workload:    ciWorkload,
		SLOs:        ciSLOs,
		Expect: Expect{On: ExpectPass, Off: ExpectEither, Reason: "a race the plan does not decide: a frozen process sends " +
			"nothing, but after SIGCONT its maintainer may still send what it was about to send when frozen (a schedule to a " +
			"peer, a bootstrap of its own node's manager), and with fencing off a receiver that already accepted the newer " +
			"epoch acts on it, creating an orphan dispatcher (measured on netns: flagged 0 of 2, then 2 of 3 in a 3-seed sweep)"},
		Faults: []FaultStep{{
			Kind:     KindPause,
			Target:   TargetOwner,
			At:       Between(3*time.Second, 6*time.Second),
			Duration: Fixed(10 * time.Second),
		}},
	},
	{
		Name:        "owner-kafka-cut",
		Description: "Cut the owner from Kafka only for 10s (it keeps its lease and its peers), then heal",
		Seed:        1,
		Topology:    ciTopology,
		Workload:    ciWorkload,
		SLOs:        ciSLOs,
		Expect: Expect{On: ExpectPass, Off: ExpectPass, Reason: "no generation changes hands: the owner keeps its lease and " +
			"its peers, only its writes stall and resume at heal, so fencing has nothing to decide (0 of 2 on netns)"},
		Faults: []FaultStep{{
			Kind:     KindIsolate,
			Target:   TargetOwner,
			Links:    []string{LinkKafka},
			At:       Between(3*time.Second, 6*time.Second),
			Duration: Fixed(10 * time.Second),
		}},
	},
	{
		Name:        "asymmetric-owner",
		Description: "The owner can send to its peers but not receive from them (one-way-in) for 10s, then heal",
		Seed:        1,
		Topology:    ciTopology,
		Workload:    ciWorkload,
		SLOs:        ciSLOs,
		Expect: Expect{On: ExpectPass, Off: ExpectPass, Reason: "no generation changes hands: the owner keeps its lease (its " +
			"meta link is not cut) and its own connections, so fencing has nothing to decide (0 of 2 on netns)"},
		Faults: []FaultStep{{
			Kind:     KindOneWayIn,
			Target:   TargetOwner,
			Links:    []string{LinkPeers},
			At:       Between(3*time.Second, 6*time.Second),
			Duration: Fixed(10 * time.Second),
		}},
	},
	{
		Name:        "maintainer-node-kill",
		Description: "SIGKILL the node running cf1's maintainer, restart it under the same id 5s later",
		Seed:        1,
		Topology:    ciTopology,
		Workload:    ciWorkload,
		SLOs:        ciSLOs,
		Expect: Expect{On: ExpectPass, Off: ExpectPass, Reason: "a killed generation cannot act again: the node restarts " +
			"with no roles, so nothing stale is ever sent (0 of 2 on netns)"},
		Faults: []FaultStep{{
			Kind:     KindKillRestart,
			Target:   MaintainerOf(DefaultChangefeed),
			At:       Between(3*time.Second, 6*time.Second),
			Duration: Fixed(5 * time.Second),
			Restart:  RestartSameID,
		}},
	},
}

// connectTopology is the debezium built-ins' cluster: three Connect
// workers (nodes), one broker, the connector's one topic of one partition.
var connectTopology = Topology{Nodes: 3, KafkaBrokers: 1, Partitions: 1, Tables: 2, TTL: 3 * time.Second}

// connectLinks cut a worker off from everything it talks to: the other
// workers (REST forwarding), Kafka (the group, its producer, the internal
// topics) and PostgreSQL (the replication slot).
var connectLinks = []string{LinkPeers, LinkKafka, LinkUpstream}

// connectExpect is the A/B of the debezium built-ins: the "on" arm runs
// the workers with exactly-once source support (KIP-618) and the connector
// with exactly.once.support=required, the "off" arm without. Both are judged
// against the same bar, each change once to a read_committed consumer.
func connectExpect(off, reason string) Expect {
	return Expect{On: ExpectPass, Off: off, Reason: reason}
}

// connectBuiltins are the Debezium-on-Kafka-Connect scenarios.
var connectBuiltins = []Scenario{
	{
		Name:        "connect-task-worker-isolation",
		Description: "Debezium on Connect: cut the task's worker from workers, Kafka and PostgreSQL for 15s, then heal",
		Target:      TargetDebezium,
		Topology:    connectTopology,
		Workload:    ciWorkload,
		Expect: connectExpect(ExpectFail, "the task moves once the group drops the worker (session timeout 6s) and "+
			"PostgreSQL frees the slot (wal_sender_timeout 10s); the new task resumes from the last flushed source "+
			"offset (flushed every 1s), so without exactly-once the rows the old task wrote after that flush are "+
			"written again (147 to 238 duplicates in each of 5 seeds at 200 rows/s; none with it)"),
		Faults: []FaultStep{{Kind: KindIsolate, Target: TargetTaskWorker, Links: connectLinks,
			At: Between(3*time.Second, 6*time.Second), Duration: Fixed(15 * time.Second)}},
	},
	{
		Name:        "connect-task-worker-kill",
		Description: "Debezium on Connect: SIGKILL the task's worker under load, restart it 5s later",
		Target:      TargetDebezium,
		Topology:    connectTopology,
		Workload:    ciWorkload,
		Expect: connectExpect(ExpectFail, "a killed task commits no source offset: its successor replays every row "+
			"since the last offset flush (1s), visible without exactly-once, aborted with it (109 to 334 duplicates in "+
			"each of 10 runs over two 5-seed sweeps; none with it)"),
		Faults: []FaultStep{{Kind: KindKillRestart, Target: TargetTaskWorker,
			At: Between(3*time.Second, 6*time.Second), Duration: Fixed(5 * time.Second)}},
	},
	{
		Name:        "connect-leader-isolation",
		Description: "Debezium on Connect: cut the group leader from workers, Kafka and PostgreSQL for 15s, then heal",
		Target:      TargetDebezium,
		Topology:    connectTopology,
		Workload:    ciWorkload,
		Expect: connectExpect(ExpectEither, "whether the leader also runs the task is decided by join order, not by "+
			"the plan: when it does, this is the task worker's isolation (flagged without exactly-once); when it does "+
			"not, the task keeps running and nothing is replayed (5 seeds: leader = task worker 3 times, flagged "+
			"exactly those 3)"),
		Faults: []FaultStep{{Kind: KindIsolate, Target: TargetLeader, Links: connectLinks,
			At: Between(3*time.Second, 6*time.Second), Duration: Fixed(15 * time.Second)}},
	},
	{
		Name:        "connect-task-worker-pause",
		Description: "Debezium on Connect: SIGSTOP the task's worker for 15s, past the session and walsender timeouts",
		Target:      TargetDebezium,
		Topology:    connectTopology,
		Workload:    ciWorkload,
		Expect: connectExpect(ExpectFail, "the successor takes the slot once PostgreSQL drops the stopped walsender "+
			"(wal_sender_timeout 10s) and replays from the last flushed source offset; the woken zombie's producer is "+
			"fenced with exactly-once, accepted without it (156 to 387 duplicates in each of 10 runs over two 5-seed sweeps; none with it)"),
		Faults: []FaultStep{{Kind: KindPause, Target: TargetTaskWorker,
			At: Between(3*time.Second, 6*time.Second), Duration: Fixed(15 * time.Second)}},
	},
}

func init() { builtins = append(builtins, connectBuiltins...) }

// Builtins returns the built-in scenarios, defaults filled in, in the order
// `chaosrun list` shows them. The caller owns the copies.
func Builtins() []Scenario {
	out := make([]Scenario, len(builtins))
	for i, s := range builtins {
		out[i] = s.WithDefaults()
	}
	return out
}

// Names returns the names of the built-in scenarios.
func Names() []string {
	names := make([]string, len(builtins))
	for i, s := range builtins {
		names[i] = s.Name
	}
	return names
}

// Lookup returns the built-in scenario called name, defaults filled in.
func Lookup(name string) (Scenario, bool) {
	for _, s := range builtins {
		if s.Name == name {
			return s.WithDefaults(), true
		}
	}
	return Scenario{}, false
}
