// Package proc supervises child processes: it starts each in its own
// process group (with a parent-death signal on Linux), appends its output
// to a log file, reads its readiness line, and signals, stops and kills
// the whole group without ever signalling a group whose leader has been
// reaped (its id may already belong to another process).
//
// Caller obligations:
//   - End every Proc: Kill or Stop it, or let the context given to Start
//     end; either way Done is closed once the leader is reaped and nothing
//     of its group runs.
//   - Start children only from goroutines that are not locked to their OS
//     thread (see Start).
//   - A Spec.Command must build the command with exec.CommandContext and
//     the context it is given; Start sets the command's output, process
//     group and cancellation itself.
//
// The readiness protocol: a child announces that it serves by printing one
// line to stdout that starts with "READY" followed by key=value fields, such
// as "READY addr=127.0.0.1:4000". Fields parses such lines.
package proc
