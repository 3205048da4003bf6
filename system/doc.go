// Package system is the CDC control plane under test: the coordinator,
// maintainer and dispatcher-manager roles (system/roles), the node-to-node
// transport (system/transport), the meta store (system/meta) and the
// in-process interaction environment that replays races step by step
// (system/systemtest).
//
// The roles are I/O-free state machines. A caller (a driver in a real node,
// or systemtest) feeds them delivered envelopes, ticks and meta-store
// results, and drains a Ready batch of envelopes to send, effects to apply
// and fencing decisions to log. Only fencing/ decides on admission; nothing
// in system/ branches on fencing.Policy.
package system
