// Package evidence defines the formats a target leaves for the judge: the
// sink's records (headers and values), the nodes' decision logs and the
// epoch history. The writers (system/node, system/meta, the tailer) and the
// checker import it; it imports only the standard library, so the checker
// never depends on what it judges.
package evidence
