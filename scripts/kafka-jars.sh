#!/usr/bin/env bash
# Resolves the Apache Kafka broker jars pinned in build/kafka/pom.xml through Maven into
# CACHEDIR/libs, and copies the broker's log4j2 configuration into CACHEDIR/config.
#
#   scripts/kafka-jars.sh CACHEDIR
#
# Idempotent: it does nothing when CACHEDIR/stamp holds the hash of its inputs (the pom,
# the log4j2 configuration and this script, which pins the plugin). The jars are written into a temporary
# directory and moved into place at the end, so an interrupted run leaves no half cache.
set -euo pipefail

if [ "$#" -ne 1 ]; then
	echo "usage: $0 CACHEDIR" >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=jars-lib.sh
. "$root/scripts/jars-lib.sh"
# Absolute: Maven resolves a relative output directory against the pom's directory.
mkdir -p "$1"
cache=$(cd "$1" && pwd)
pom="$root/build/kafka/pom.xml"
log4j="$root/build/kafka/log4j2.properties"
# Pinned: a bare `dependency:` prefix fails when the plugin cannot be resolved by prefix.
plugin=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

for tool in java mvn sha256sum; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "kafka-jars: $tool not found on PATH; run 'make deps-apt'" >&2
		exit 1
	fi
done

want=$(cat "$pom" "$log4j" "$0" "$root/scripts/jars-lib.sh" | sha256sum | cut -d' ' -f1)
if [ -f "$cache/stamp" ] && [ "$(cat "$cache/stamp")" = "$want" ] && [ -d "$cache/libs" ]; then
	echo "kafka-jars: $cache/libs is up to date"
	exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "kafka-jars: resolving $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom") through Maven"
# Maven 3.8 prints ANSI resets even in batch mode; strip them (pipefail keeps mvn's status).
mvn -B -q -Dstyle.color=never -f "$pom" "$plugin:copy-dependencies" \
	-DincludeScope=runtime -DoutputDirectory="$tmp/libs" 2>&1 | sed 's/\x1b\[[0-9;]*m//g'

check_slf4j_binding kafka-jars "$tmp/libs" build/kafka/pom.xml
shopt -s nullglob
# kafka.Kafka and kafka.tools.StorageTool live in the core jar.
core=("$tmp"/libs/kafka_2.13-*.jar)
if [ "${#core[@]}" -ne 1 ]; then
	echo "kafka-jars: the kafka_2.13 core jar is missing from the resolved set" >&2
	exit 1
fi

mkdir -p "$tmp/config"
cp "$log4j" "$tmp/config/log4j2.properties"
swap_in "$cache" "$tmp" libs config
echo "$want" >"$cache/stamp"
echo "kafka-jars: $(ls "$cache/libs" | wc -l) jars in $cache/libs"
