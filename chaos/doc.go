// Package chaos injects faults into a running chaosrun cluster and proves
// that they took effect: network faults between a target and its peers —
// cuts, holds (traffic kept and delivered in order at heal), delays and
// random loss — with netns (iptables DROP, NFQUEUE and statistic rules) or
// toxiproxy (hold and latency toxics; no loss), process kills with
// restart, and SIGSTOP pauses.
//
// # Pieces
//
//   - Topology / Process / Endpoint: the runner's description of what it
//     started (name, role, node id, pid, start time, listeners, namespace).
//   - Resolver: turns a role ("owner", "maintainer-of:cf", "node:2",
//     "kafka", ...) into processes when a fault fires. TopologyResolver
//     reads static roles from the Topology and asks runner callbacks for
//     the owner and maintainers.
//   - Spec → Fault: what the scenario asks for, and its resolution.
//   - Backend: one kind of fault mechanism, one file each (netns_iptables.go,
//     toxiproxy.go, process_kill.go, process_pause.go, noop.go), added to a
//     Registry by Register; a behaviour a backend adds gets its own file
//     (netns_queue.go and nfqueue_*.go for holds and delays on netns,
//     netns_loss.go, toxiproxy_hold.go, toxiproxy_latency.go).
//   - Guard: the lifecycle every fault goes through (prepare, inject,
//     verify, heal, verify, cleanup); it refuses calls out of order and
//     keeps a FaultRecord with the proof (probes, rule and queue counters,
//     held bytes, times).
//   - Network (netns) and Proxies (toxiproxy): the run's fabric, which the
//     runner creates before starting processes and closes at teardown.
//   - Ledger and Clean: every intent is appended to
//     <run-dir>/faults.ledger.jsonl before acting; Clean (chaosrun clean)
//     undoes whatever a crashed run left.
//
// # Caller obligations
//
// The runner:
//
//  1. picks a run id (NewRunID or ShortRunID; 6 characters, because it is
//     part of 15-byte interface names) and opens the Ledger in the run
//     directory before anything else;
//  2. builds the fabric: NewNetwork then Network.Add per process, starting
//     each process with Namespace.Command, and Network.Uplink so the
//     harness's own clients reach the namespaces (netns; NetnsPlacement
//     does all of it for system/cluster); or NewProxies then
//     Proxies.Add/Mesh, configuring every client with Proxies.Addr
//     (toxiproxy; Kafka brokers must advertise the proxy addresses);
//  3. records each started process with Ledger.AddProcess, and fills the
//     Topology (pid, start time, endpoints, namespace and address);
//  4. drives each fault through a Guard: Prepare, Inject(spec) at fire
//     time, Verify, hold, Heal, Verify, and finally Cleanup; it defers
//     Guard.Close, which heals and cleans up from any state, under a
//     context that survives cancellation;
//  5. treats a FaultRecord with Effective=false as an inconclusive run;
//  6. closes the Network / Proxies on every exit path.
//
// A crashed harness leaves the ledger behind; `chaosrun clean <run-dir>`
// (Clean) then resumes paused processes, kills the run's processes by pid
// and start time, removes rules (DROP, NFQUEUE and statistic alike: by
// their tag), chains, namespaces, veths (the uplink's too) and the bridge,
// and reports the in-process proxies as gone. A hold's queue handler lives
// in the harness: if the harness dies, its queue is unbound and the kernel
// drops what reaches the rules until clean removes them (fail closed).
// `chaosrun clean --all` finds namespaces and links by name when no ledger
// is left.
//
// The netns backend needs root on Linux; toxiproxy and the process faults
// need no privileges.
package chaos
