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

# Services get gRPC stubs as well; checker/dumppb is messages only.
for spec in heartbeatpb/heartbeat:grpc upstreampb/upstream:grpc checker/dumppb/dump:; do
	path=${spec%%:*} grpc=${spec#*:}
	pkg=${path%/*} name=${path##*/}
	tmp=$(mktemp -d)
	cp "$pkg/$name.proto" "$tmp/"
	files=("$name.pb.go")
	flags=(--go_out=. --go_opt=paths=source_relative)
	if [ -n "$grpc" ]; then
		files+=("${name}_grpc.pb.go")
		flags+=(--go-grpc_out=. --go-grpc_opt=paths=source_relative)
	fi
	(cd "$tmp" && protoc "${flags[@]}" "$name.proto")
	for f in "${files[@]}"; do
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
