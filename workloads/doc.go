// Package workloads generates load against the upstream source and records
// a history of every operation.
//
// A Workload only decides what to write next; Run paces it to a rate, sends
// each transaction through a Store and appends one JSON line per event
// (invoke, then ok, fail or info) to a History. Outcomes follow the usual
// rule for distributed histories: an error that proves nothing was written
// is a fail; anything else (a timeout, a broken connection) is info, an
// unknown outcome that the checker must accept either way.
//
// Workloads are not safe for concurrent use; Run calls Next from one
// goroutine and sends from several.
package workloads
