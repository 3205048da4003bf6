package scenario

import (
	"fmt"

	"github.com/chaosrun/chaosrun/target"
	"github.com/chaosrun/chaosrun/target/cdc"
)

// newTarget returns the system under test the scenario names, configured
// for the run's arm.
func newTarget(sc Scenario, opt RunOptions) (target.Target, error) {
	top := sc.Topology
	switch sc.Target {
	case "", TargetCDC:
		return cdc.New(cdc.Config{Nodes: top.Nodes, Tables: top.Tables, Partitions: top.Partitions,
			KafkaBrokers: top.KafkaBrokers, Changefeed: top.Changefeed, TTL: top.TTL,
			Policy: opt.Policy, SelfFence: opt.SelfFence}), nil
	}
	return nil, fmt.Errorf("unknown target %q (want %s or %s)", sc.Target, TargetCDC, TargetDebezium)
}
