#!/usr/bin/env bash
# Builds the chaosrun/kafka:<version> image without pulling anything, for machines that reach no
# container registry:
#
#   scripts/kafka-image.sh CACHEDIR        (CACHEDIR/kafka/libs must hold the jars of `make kafka-jars`)
#
#  1. base image chaosrun/debian-jre17:bookworm: a Debian rootfs with a Java 17 runtime made by
#     `debootstrap --variant=minbase --include=openjdk-17-jre-headless bookworm`, using the mirror of
#     this machine's apt sources (read here, at run time, and written into no file), then
#     `docker import`ed;
#  2. chaosrun/kafka:<version>: build/kafka-image/Dockerfile FROM that base, adding the jars, their
#     log4j2 configuration and the entrypoint build/kafka-image/run. <version> is the Kafka version
#     pinned in build/kafka/pom.xml (the local provider's).
#
# Cache: each image carries a label chaosrun.inputs with the hash of its inputs (the base: the
# debootstrap arguments and recipe version; the Kafka image: the jars' contents, the Dockerfile, the
# entrypoint, the log4j2 configuration and the base image's id). A step whose image exists with the
# same hash is skipped, so a second run only hashes and compares. CACHEDIR/kafka-image/stamp holds the
# last hash; CACHEDIR/kafka-image/build-times.log one line per run with the time each step took.
#
# Where no Docker engine answers (or the apt sources name no Debian mirror) it prints why and exits 0,
# so `make deps` still succeeds and the container tests skip; CHAOSRUN_REQUIRE_DOCKER=1 makes that an
# error. Temporary directories (the rootfs, the build context) are removed on every exit.
set -euo pipefail

if [ "$#" -ne 1 ]; then
	echo "usage: $0 CACHEDIR" >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
cache=$(mkdir -p "$1" && cd "$1" && pwd)
libs=$cache/kafka/libs
ctxsrc=$root/build/kafka-image
suite=bookworm
variant=minbase
include=openjdk-17-jre-headless
base=chaosrun/debian-jre17:$suite

unavailable() {
	if [ "${CHAOSRUN_REQUIRE_DOCKER:-0}" = 1 ]; then
		echo "kafka-image: $1 (CHAOSRUN_REQUIRE_DOCKER=1, so this is an error)" >&2
		exit 1
	fi
	echo "kafka-image: $1; not building the image, the container tests will skip" >&2
	exit 0
}

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
	unavailable "no Docker engine answers (run 'make deps-docker')"
fi
shopt -s nullglob
core=("$libs"/kafka_2.13-*.jar)
if [ "${#core[@]}" -ne 1 ]; then
	echo "kafka-image: no kafka_2.13 jar in $libs; run 'make kafka-jars'" >&2
	exit 1
fi
version=$(basename "${core[0]}" .jar)
version=${version#kafka_2.13-}
pinned=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$root/build/kafka/pom.xml")
if [ "$version" != "$pinned" ]; then
	echo "kafka-image: $libs holds Kafka $version but build/kafka/pom.xml pins $pinned; run 'make kafka-jars'" >&2
	exit 1
fi
image=chaosrun/kafka:$version
arch=$(dpkg --print-architecture)

# label prints an image's chaosrun.inputs label, or nothing when the image does not exist.
label() {
	docker image inspect --format '{{ index .Config.Labels "chaosrun.inputs" }}' "$1" 2>/dev/null || true
}

# debian_mirror prints the first Debian mirror of the machine's apt sources that serves $suite
# (one-line and deb822 formats), else the first one of any suite whose path ends in /debian.
debian_mirror() {
	local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list) f out
	for f in "${files[@]}"; do
		[ -f "$f" ] || continue
		out=$(awk -v suite="$suite" '
			$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
				if ($(i + 1) == suite) { print $i; exit }
			}' "$f")
		[ -z "$out" ] || { echo "$out"; return; }
	done
	files=(/etc/apt/sources.list.d/*.sources)
	for want in exact any; do
		for f in "${files[@]}"; do
			out=$(awk -v suite="$suite" -v want="$want" '
				BEGIN { RS = ""; FS = "\n" }
				{
					types = ""; uris = ""; suites = ""; enabled = "yes"
					for (j = 1; j <= NF; j++) {
						line = $j
						if (line ~ /^[ \t]*#/) continue
						if (sub(/^Types:[ \t]*/, "", line)) types = line
						else if (sub(/^URIs:[ \t]*/, "", line)) uris = line
						else if (sub(/^Suites:[ \t]*/, "", line)) suites = line
						else if (sub(/^Enabled:[ \t]*/, "", line)) enabled = tolower(line)
					}
					if (enabled == "no" || (" " types " ") !~ / deb /) next
					split(uris, u, /[ \t]+/)
					if ((" " suites " ") ~ (" " suite " ")) { print u[1]; exit }
					if (want == "any" && u[1] ~ /\/debian\/?$/) { print u[1]; exit }
				}' "$f")
			[ -z "$out" ] || { echo "$out"; return; }
		done
	done
}

tmp=""
cleanup() {
	[ -n "$tmp" ] && [ -d "$tmp" ] || return 0
	# debootstrap mounts /proc and /sys inside the rootfs; never let rm walk into them.
	local m
	for m in $(awk -v p="$tmp/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
mkdir -p "$cache/kafka-image"
tmp=$(mktemp -d "$cache/kafka-image/.tmp.XXXXXX")

# now_ms prints the time in milliseconds; secs renders a duration in ms as seconds.
now_ms() { date +%s%3N; }
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
t_start=$(now_ms)
t_base=0 t_import=0 t_build=0
kind=cached # cold: both images built; rebuilt: only the Kafka image

# 1. The base image.
# NB: bump base_recipe when the steps below change what goes into the base; the script itself is not
# hashed, so editing anything else here does not cost a debootstrap.
base_recipe="debootstrap --variant=$variant --include=$include --arch=$arch $suite; no apt caches, docs; PATH; v1"
base_want=$(printf '%s\n' "$base_recipe" | sha256sum | cut -d' ' -f1)
if [ "$(label "$base")" = "$base_want" ]; then
	echo "kafka-image: $base is up to date"
else
	kind=cold
	command -v debootstrap >/dev/null 2>&1 || unavailable "debootstrap not installed (run 'make deps-docker')"
	mirror=$(debian_mirror)
	[ -n "$mirror" ] || unavailable "no Debian mirror in the apt sources"
	echo "kafka-image: debootstrap $suite ($variant, $include) from the apt sources' mirror"
	t0=$(now_ms)
	if ! debootstrap --variant="$variant" --include="$include" --arch="$arch" "$suite" "$tmp/rootfs" "$mirror" \
		>"$tmp/debootstrap.log" 2>&1; then
		tail -n 20 "$tmp/debootstrap.log" >&2
		echo "kafka-image: debootstrap failed" >&2
		exit 1
	fi
	# Nothing the image needs: package caches and lists, docs.
	rm -rf "$tmp"/rootfs/var/cache/apt/archives/*.deb "$tmp"/rootfs/var/lib/apt/lists/* \
		"$tmp"/rootfs/usr/share/doc/* "$tmp"/rootfs/usr/share/man/*
	t_base=$(($(now_ms) - t0))
	t0=$(now_ms)
	old=$(docker image inspect --format '{{.Id}}' "$base" 2>/dev/null || true)
	tar --numeric-owner -C "$tmp/rootfs" -c . |
		docker import --change "LABEL chaosrun.inputs=$base_want" \
			--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$base" >/dev/null
	t_import=$(($(now_ms) - t0))
	cleanup
	mkdir -p "$tmp"
	# The replaced base is unused now; remove it unless something still uses it.
	[ -z "$old" ] || docker image rm "$old" >/dev/null 2>&1 || true
fi
base_id=$(docker image inspect --format '{{.Id}}' "$base")

# 2. The Kafka image.
want=$( (
	cd "$libs" && sha256sum ./*.jar
	sha256sum "$ctxsrc/Dockerfile" "$ctxsrc/run" "$root/build/kafka/log4j2.properties" | cut -d' ' -f1
	echo "$base_id"
) | sha256sum | cut -d' ' -f1)
if [ "$(label "$image")" = "$want" ]; then
	echo "kafka-image: $image is up to date"
else
	[ "$kind" = cold ] || kind=rebuilt
	mkdir -p "$tmp/context"
	cp -a "$libs" "$tmp/context/libs"
	cp "$ctxsrc/Dockerfile" "$tmp/context/Dockerfile"
	install -m 0755 "$ctxsrc/run" "$tmp/context/run"
	cp "$root/build/kafka/log4j2.properties" "$tmp/context/log4j2.properties"
	old=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
	echo "kafka-image: building $image"
	t0=$(now_ms)
	# NB: the legacy builder uses the local base image as it is; BuildKit would first ask a registry
	# for its metadata. --force-rm removes intermediate containers even when a step fails.
	if ! DOCKER_BUILDKIT=0 docker build --force-rm --quiet \
		--build-arg BASE_IMAGE="$base" --label "chaosrun.inputs=$want" --label "chaosrun.kafka.version=$version" \
		-t "$image" "$tmp/context" >"$tmp/build.log" 2>&1; then
		tail -n 30 "$tmp/build.log" >&2
		echo "kafka-image: docker build failed" >&2
		exit 1
	fi
	t_build=$(($(now_ms) - t0))
	new=$(docker image inspect --format '{{.Id}}' "$image")
	[ -z "$old" ] || [ "$old" = "$new" ] || docker image rm "$old" >/dev/null 2>&1 || true
fi
echo "$want" >"$cache/kafka-image/stamp"

total=$(($(now_ms) - t_start))
times="total=$(secs $total)s debootstrap=$(secs $t_base)s import=$(secs $t_import)s build=$(secs $t_build)s"
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $image $kind $times" >>"$cache/kafka-image/build-times.log"
echo "kafka-image: $image ready ($kind build: $times)"
