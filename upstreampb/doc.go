// Package upstreampb holds the upstream source service protocol: tables of
// int64 primary keys, transactional writes and per-span change feeds.
//
// The Go code is generated from upstream.proto by `make proto`; do not edit
// the *.pb.go files by hand.
package upstreampb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative upstream.proto
