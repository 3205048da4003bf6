// Package target is the seam between the runner and a system under test.
// The runner drives a Target: it provisions the target's processes on a
// placement, describes them to the chaos backends, resolves role targets
// when a fault fires, commits the workload through the target's store and
// reads the records where the target's Sink says, decoded the target's way.
// The chaos backends, the fault guard and ledger, the checker and the
// reports are shared by every target.
//
// Two targets exist: systemtarget (the control plane in system/) and
// debezium (Debezium Postgres on a Kafka Connect cluster).
package target

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/chaosrun/chaosrun/chaos"
	"github.com/chaosrun/chaosrun/evidence"
	"github.com/chaosrun/chaosrun/internal/place"
	"github.com/chaosrun/chaosrun/sink/kafka"
	"github.com/chaosrun/chaosrun/workloads"
)

// Target is a system under test as the runner drives it.
type Target interface {
	// Names lists the processes Start will place, so that a fabric can
	// prepare a place (a network namespace) for each before they start.
	Names() []string
	// Start provisions the target on env.Placement and returns once it
	// takes writes and its sink topic exists. What it started is stopped
	// by Stop, also when Start fails.
	Start(ctx context.Context, env Env) error
	// Processes describes the started processes for the chaos topology
	// (without placement facts, which the runner adds).
	Processes() []chaos.Process
	// Sinks says where the target's records are and how to read them: one
	// Sink per changefeed, the first first.
	Sinks() []Sink
	// Store takes the workload's transactions.
	Store() workloads.Store
	// Resolve names the node (chaos NodeID) that holds a dynamic role right
	// now; roles are the scenario's target roles without an argument
	// ("owner", "task-worker", ...) or with one ("maintainer-of:cf").
	// Errors wrap chaos.ErrUnresolved.
	Resolve(ctx context.Context, role string, view View) (node string, err error)
	// Restart starts a killed node again (under a new identity when newID)
	// and returns its pid.
	Restart(ctx context.Context, node string, newID bool) (pid int, err error)
	// DrainTs is the watermark the sink must reach to hold every change
	// committed so far; the runner calls it once the workload stopped.
	DrainTs(ctx context.Context) (uint64, error)
	// Stop saves into the run directory what only the live target knows and
	// stops every process it started. It is idempotent.
	Stop(ctx context.Context) error
	// Status is a short fragment of the live progress line ("owner=n1 epoch=3").
	Status(ctx context.Context) string
}

// Env is what the runner gives a target to start on.
type Env struct {
	// Dir is the run directory.
	Dir string
	// Binary is the chaosrun executable (targets whose processes are
	// chaosrun subcommands use it).
	Binary string
	// Placement decides where each process runs.
	Placement place.Placement
	// Kafka chooses the Kafka provider.
	Kafka kafka.Options
	// Logger receives progress lines.
	Logger *slog.Logger
}

// Sink describes the topic a target writes and how the judge reads it.
type Sink struct {
	Brokers []string
	Topic   string
	// Changefeed is the name the records are checked under.
	Changefeed string
	// Decode turns a consumed record into evidence; nil is evidence.Decode.
	Decode func(evidence.Consumed) (evidence.Record, error)
	// ReadCommitted makes the tailer read committed transactions only (the
	// target writes transactionally).
	ReadCommitted bool
	// NoWatermarkOrder says the target's watermarks are progress signals
	// that promise nothing about the order of rows before them, so the
	// judge does not check that order.
	NoWatermarkOrder bool
	// ExactlyOnce says a read_committed consumer must see each change once:
	// the judge counts duplicates as violations.
	ExactlyOnce bool
	// RowProgress says a row's commit ts is progress, as a watermark's is:
	// the target writes each partition in commit order.
	RowProgress bool
}

// View is what the runner's tailer knows, for role resolution.
type View interface {
	// Flush makes everything consumed so far visible.
	Flush(ctx context.Context) error
	// WatermarkWriter returns the node that wrote the newest watermark of
	// changefeed cf.
	WatermarkWriter(cf string) (node string, ok bool)
}

// Endpoint names of the processes, shared by the fabric (proxies) and the
// chaos topology.
const (
	EndpointPeer     = "peer"
	EndpointMeta     = "client"
	EndpointUpstream = "grpc"
	EndpointKafka    = "kafka"
)

// EndpointOf names the endpoint a process serves, by process name.
func EndpointOf(name string) string {
	switch name {
	case "meta":
		return EndpointMeta
	case "upstream":
		return EndpointUpstream
	case place.KafkaName:
		return EndpointKafka
	default:
		return EndpointPeer
	}
}

// WriteJSON writes v, indented, to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
