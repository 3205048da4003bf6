#!/usr/bin/env bash
# Regenerates every protocol package into a temp dir and fails if the committed code differs.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for spec in heartbeatpb/heartbeat upstreampb/upstream; do
	pkg=${spec%/*} name=${spec#*/}
	tmp=$(mktemp -d)
	cp "$pkg/$name.proto" "$tmp/"
	(cd "$tmp" && protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative "$name.proto")
	for f in "$name.pb.go" "${name}_grpc.pb.go"; do
		if ! diff -q "$tmp/$f" "$pkg/$f" >/dev/null; then
			echo "$pkg/$f is stale: run 'make proto' and commit the result" >&2
			diff -u "$pkg/$f" "$tmp/$f" | head -20 >&2
			status=1
		fi
	done
	rm -rf "$tmp"
done
[ "$status" -eq 0 ] && echo "proto-check: generated code is up to date"
exit "$status"
