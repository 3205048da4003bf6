#!/usr/bin/env bash
# Regenerates every generated file (protobuf packages, stringer enums) and fails if the committed code
# differs. The working tree is left as it was.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
stale() {
	echo "$1 is stale: run '$2' and commit the result" >&2
	diff -u "$1" "$3" | head -20 >&2 || true
	status=1
}

for spec in heartbeatpb/heartbeat upstreampb/upstream; do
	pkg=${spec%/*} name=${spec#*/}
	tmp=$(mktemp -d)
	cp "$pkg/$name.proto" "$tmp/"
	(cd "$tmp" && protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative "$name.proto")
	for f in "$name.pb.go" "${name}_grpc.pb.go"; do
		diff -q "$tmp/$f" "$pkg/$f" >/dev/null || stale "$pkg/$f" "make proto" "$tmp/$f"
	done
	rm -rf "$tmp"
done

# stringer writes the file named by -output next to the source; keep the committed one aside, run the
# directive, compare, and put the committed one back.
while IFS=: read -r file directive; do
	dir=$(dirname "$file")
	args=${directive#//go:generate stringer }
	out=$(sed -n 's/.*-output=\([^ ]*\).*/\1/p' <<<"$args")
	tmp=$(mktemp -d)
	cp "$dir/$out" "$tmp/committed"
	# shellcheck disable=SC2086 # the directive's arguments, as go generate splits them
	(cd "$dir" && stringer $args)
	cp "$dir/$out" "$tmp/$out"
	cp "$tmp/committed" "$dir/$out"
	diff -q "$tmp/$out" "$dir/$out" >/dev/null || stale "$dir/$out" "go generate ./$dir" "$tmp/$out"
	rm -rf "$tmp"
done < <(git grep -I '^//go:generate stringer ' -- '*.go')

[ "$status" -eq 0 ] && echo "generate-check: generated code is up to date"
exit "$status"
