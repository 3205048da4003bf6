// Package scenario holds chaosrun's scenarios as data: what cluster to
// start, what load to drive, which faults to inject when, and the SLOs a run
// is judged by. The runner (runner*.go) executes them.
//
// # Forms
//
// A Scenario is a Go struct with a YAML form (Parse, LoadFile, Scenario.YAML)
// using the YAML field names, durations in Go syntax ("5s") and fault times
// that may be ranges ("10s..20s"). Built-in scenarios are literals (Builtins,
// Lookup); Load takes a built-in's name or a file path. A zero or omitted
// field means its default (WithDefaults); everything this package returns
// has its defaults filled in, so the runner never has to.
//
// # Validation
//
// Validate returns every problem at once, each with its field path
// ("faults[1].target") and, for files, its line, as a *ValidationError
// (errors.Is(err, ErrInvalid)). Parsing is strict: unknown fields,
// duplicate keys and mistyped values are problems too. A scenario that
// validates expands into a valid plan for every seed.
//
// # Plans
//
// Scenario.Plan(seed) makes the fault plan concrete: ranges picked with a
// math/rand/v2 PCG generator seeded from the seed, repetitions unrolled,
// steps sorted by time and named f1, f2, .... The same scenario and seed
// give the same Plan, and a Plan round-trips exactly through plan.json
// (SavePlan, LoadPlan), so `--plan` replays it. The run itself is not
// deterministic, and reports must say so: print Disclaimer.
//
// # Caller obligations
//
// Targets, links, kinds, backends and restart modes are plain strings; the
// runner maps them onto chaos faults:
//
//   - Target roles ("owner", "maintainer-of:<cf>", "node:<n>" with n from 1
//     to topology.nodes, "kafka", "meta", "upstream") are resolved when each
//     step fires, so each occurrence of a repeated step hits the node that
//     holds the role then.
//   - Validate refuses overlapping windows of steps with the same target
//     string, but two different roles (owner and node:2, say) may resolve to
//     the same node at fire time; the runner must cope or refuse.
//   - Step.At is measured from the end of the steady-state gate; the
//     recovery window starts at the last heal (Plan.End).
//   - An empty Step.Backend means the run's backend. A loss runs only on
//     netns (Validate refuses one that names toxiproxy; the runner refuses
//     one left to a toxiproxy run), and so do steps that act on Kafka
//     links.
//   - Scenario.Timeout bounds the whole run; its default is the worst case
//     of the timed phases plus ProvisionAllowance.
package scenario
