// Package heartbeatpb holds the control-plane protocol: the protobuf messages
// exchanged by coordinators, maintainers and dispatcher managers, the
// transport envelope and the gRPC peer service.
//
// The Go code is generated from heartbeat.proto by `make proto`; do not edit
// the *.pb.go files by hand.
package heartbeatpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative heartbeat.proto
