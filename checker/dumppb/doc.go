// Package dumppb holds the record dump's message: the Kafka tailer writes
// one Record per consumed record to the run directory, and `chaosrun check`
// reads them back (checker.AppendDumpRecord, checker.ReadDump).
//
// The Go code is generated from dump.proto by `make proto`; do not edit the
// *.pb.go files by hand.
package dumppb

//go:generate protoc --go_out=. --go_opt=paths=source_relative dump.proto
