#!/usr/bin/env bash
# Regenerates heartbeatpb into a temp dir and fails if the committed code differs.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp heartbeatpb/heartbeat.proto "$tmp/"
(cd "$tmp" && protoc --go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative heartbeat.proto)
for f in heartbeat.pb.go heartbeat_grpc.pb.go; do
	if ! diff -q "$tmp/$f" "heartbeatpb/$f" >/dev/null; then
		echo "heartbeatpb/$f is stale: run 'make proto' and commit the result" >&2
		diff -u "heartbeatpb/$f" "$tmp/$f" | head -20 >&2
		exit 1
	fi
done
echo "proto-check: generated code is up to date"
