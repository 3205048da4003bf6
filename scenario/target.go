package scenario

import (
	"fmt"

	"github.com/chaosrun/chaosrun/fencing"
	"github.com/chaosrun/chaosrun/system/node"
	"github.com/chaosrun/chaosrun/target"
	"github.com/chaosrun/chaosrun/target/cdc"
	"github.com/chaosrun/chaosrun/target/debezium"
	"github.com/chaosrun/chaosrun/workloads"
)

// newTarget returns the system under test the scenario names, configured
// for the run's arm.
func newTarget(sc Scenario, opt RunOptions) (target.Target, error) {
	top := sc.Topology
	sink := SinkOf(sc, opt.Sink)
	if sink != SinkIdempotent && sink != SinkTxn {
		return nil, fmt.Errorf("unknown sink %q (want %s or %s)", sink, SinkIdempotent, SinkTxn)
	}
	switch sc.Target {
	case "", TargetCDC:
		return cdc.New(cdc.Config{Nodes: top.Nodes, Tables: top.Tables, Partitions: top.Partitions,
			KafkaBrokers: top.KafkaBrokers, Changefeeds: top.ChangefeedNames(), TTL: top.TTL,
			Policy: opt.Policy, SelfFence: opt.SelfFence, Sink: node.SinkMode(sink)}), nil
	case TargetDebezium:
		if opt.SelfFence {
			return nil, fmt.Errorf("--self-fence is a control-plane arm; the %s target has none", TargetDebezium)
		}
		if sink == SinkTxn {
			return nil, fmt.Errorf("--sink %s is a control-plane sink mode; the %s target's transactions are its exactly-once arm (--fencing)", SinkTxn, TargetDebezium)
		}
		w, err := workloads.New(sc.Workload.Name, sc.workloadOptions())
		if err != nil {
			return nil, err
		}
		return debezium.New(debezium.Config{Workers: top.Nodes, Tables: w.Tables(), Connector: top.Changefeed,
			EOS: opt.Policy.Fences(), KafkaBrokers: top.KafkaBrokers}), nil
	}
	return nil, fmt.Errorf("unknown target %q (want %s or %s)", sc.Target, TargetCDC, TargetDebezium)
}

// eosMode names the debezium target's arm: fencing on is Kafka Connect's
// exactly-once source support (KIP-618), which fences a zombie task's
// producer through its transactional id; off is the default, without it.
func eosMode(p fencing.Policy) string {
	if p.Fences() {
		return "eos=enabled"
	}
	return "eos=disabled"
}

// ArmName names the arm a policy selects for the scenario's target: the
// fencing policy for cdc, exactly-once source support for debezium.
func ArmName(sc Scenario, p fencing.Policy) string {
	if sc.Target == TargetDebezium {
		return eosMode(p)
	}
	return "fencing " + p.String()
}

// workloadOptions are the options the scenario's workload runs with.
func (s Scenario) workloadOptions() workloads.Options {
	return workloads.Options{Tables: s.Topology.Tables, RowsPerTx: s.Workload.RowsPerTxn}
}
