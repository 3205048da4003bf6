package chaos

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
)

// Process roles used by the role resolver. A Process may carry any role
// string; these are the ones the harness starts.
const (
	RoleNode     = "node"     // a CDC node (capture; maybe owner, maintainer)
	RoleKafka    = "kafka"    // a Kafka broker
	RoleMeta     = "meta"     // the meta store (embedded etcd)
	RoleUpstream = "upstream" // the upstream source database
)

// ProbeKind says how a probe checks that an endpoint is reachable.
type ProbeKind string

const (
	// ProbeConnect opens a TCP connection and closes it. A refused
	// connection counts as reachable (packets flowed). Meaningless through
	// toxiproxy, whose listener always accepts.
	ProbeConnect ProbeKind = "connect"
	// ProbeEcho writes a token and expects the same bytes back: the
	// endpoint must echo. Proves data flows both ways on the link.
	ProbeEcho ProbeKind = "echo"
	// ProbeTLS sends a TLS ClientHello and expects the server's
	// certificate back: every member's gRPC server (the nodes' peer port,
	// the upstream, etcd's client port) serves mutual TLS and answers, so
	// data must flow both ways through the link, proxies included.
	ProbeTLS ProbeKind = "tls"
)

// Endpoint is one TCP listener of a process.
type Endpoint struct {
	// Name identifies the endpoint within its process ("grpc", "kafka").
	Name string `json:"name"`
	// Addr is the host:port the process listens on, as seen from its own
	// network namespace (or from the host when it has none).
	Addr string `json:"addr"`
	// Probe selects the probe; "" means ProbeConnect.
	Probe ProbeKind `json:"probe,omitempty"`
}

// probeKind returns the endpoint's probe kind, defaulting to ProbeConnect.
func (e Endpoint) probeKind() ProbeKind {
	if e.Probe == "" {
		return ProbeConnect
	}
	return e.Probe
}

// Process describes one OS process of a run, as the runner started it.
type Process struct {
	// Name is unique within the topology ("node-1", "kafka-0", "meta").
	Name string `json:"name"`
	// Role is the part the process plays: RoleNode, RoleKafka, ...
	Role string `json:"role"`
	// NodeID is the CDC node id for RoleNode processes ("1"); role targets
	// "node:<id>", "owner" and "maintainer-of:<cf>" resolve through it.
	NodeID string `json:"node_id,omitempty"`
	// Pid is the process id; Pgid its process group (0 means Pid: the
	// runner starts every process as a group leader).
	Pid  int `json:"pid,omitempty"`
	Pgid int `json:"pgid,omitempty"`
	// StartTime is field 22 of /proc/<pid>/stat (clock ticks since boot).
	// With Pid it identifies the process: a reused pid never matches.
	StartTime uint64 `json:"start_time,omitempty"`
	// Endpoints are the process's listeners.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Namespace is the network namespace (netns backend); "" for none.
	Namespace string `json:"netns,omitempty"`
	// Addr is the process's address inside Namespace (netns backend).
	Addr netip.Addr `json:"addr,omitzero"`
}

// Group returns the process group to signal.
func (p Process) Group() int {
	if p.Pgid != 0 {
		return p.Pgid
	}
	return p.Pid
}

// Ref returns the identifying fields of p for records.
func (p Process) Ref() ProcessRef {
	return ProcessRef{Name: p.Name, Role: p.Role, NodeID: p.NodeID, Pid: p.Pid, StartTime: p.StartTime, Namespace: p.Namespace}
}

// Endpoint returns p's endpoint called name.
func (p Process) Endpoint(name string) (Endpoint, bool) {
	for _, e := range p.Endpoints {
		if e.Name == name {
			return e, true
		}
	}
	return Endpoint{}, false
}

// ProcessRef is the concrete process a fault acted on, as recorded.
type ProcessRef struct {
	Name      string `json:"name"`
	Role      string `json:"role,omitempty"`
	NodeID    string `json:"node_id,omitempty"`
	Pid       int    `json:"pid,omitempty"`
	StartTime uint64 `json:"start_time,omitempty"`
	Namespace string `json:"netns,omitempty"`
}

// ErrUnknownProcess reports a process name missing from the topology.
var ErrUnknownProcess = errors.New("chaos: unknown process")

// Topology is the set of processes of one run. The runner fills it as it
// starts processes and updates it on restarts; backends and resolvers read
// it at fire time. It is safe for concurrent use.
type Topology struct {
	mu    sync.RWMutex
	procs []Process
}

// NewTopology returns a topology holding procs (copied).
func NewTopology(procs ...Process) (*Topology, error) {
	t := &Topology{}
	for _, p := range procs {
		if err := t.Add(p); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Add appends p; its name must be new and non-empty.
func (t *Topology) Add(p Process) error {
	if p.Name == "" {
		return fmt.Errorf("chaos: topology: process without a name")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, q := range t.procs {
		if q.Name == p.Name {
			return fmt.Errorf("chaos: topology: duplicate process %q", p.Name)
		}
	}
	t.procs = append(t.procs, cloneProcess(p))
	return nil
}

// Update replaces the process with p's name (after a restart, say).
func (t *Topology) Update(p Process) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, q := range t.procs {
		if q.Name == p.Name {
			t.procs[i] = cloneProcess(p)
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrUnknownProcess, p.Name)
}

// Process returns the process called name.
func (t *Topology) Process(name string) (Process, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, q := range t.procs {
		if q.Name == name {
			return cloneProcess(q), true
		}
	}
	return Process{}, false
}

// Processes returns a copy of every process, in insertion order.
func (t *Topology) Processes() []Process {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Process, len(t.procs))
	for i, p := range t.procs {
		out[i] = cloneProcess(p)
	}
	return out
}

func cloneProcess(p Process) Process {
	p.Endpoints = slices.Clone(p.Endpoints)
	return p
}
