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

want=$(cat "$pom" "$log4j" "$0" | sha256sum | cut -d' ' -f1)
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

# The SLF4J API and its log4j2 binding must be of the same generation, or the broker
# silently logs nothing: slf4j-api 1.7.x needs log4j-slf4j-impl, 2.x needs log4j-slf4j2-impl.
shopt -s nullglob
api=("$tmp"/libs/slf4j-api-*.jar)
if [ "${#api[@]}" -ne 1 ]; then
	echo "kafka-jars: expected one slf4j-api jar, found ${#api[@]}" >&2
	exit 1
fi
case "$(basename "${api[0]}")" in
slf4j-api-1.*) binding=("$tmp"/libs/log4j-slf4j-impl-*.jar) ;;
*) binding=("$tmp"/libs/log4j-slf4j2-impl-*.jar) ;;
esac
if [ "${#binding[@]}" -ne 1 ]; then
	echo "kafka-jars: $(basename "${api[0]}") has no matching log4j2 binding; fix build/kafka/pom.xml" >&2
	exit 1
fi
# kafka.Kafka and kafka.tools.StorageTool live in the core jar.
core=("$tmp"/libs/kafka_2.13-*.jar)
if [ "${#core[@]}" -ne 1 ]; then
	echo "kafka-jars: the kafka_2.13 core jar is missing from the resolved set" >&2
	exit 1
fi

mkdir -p "$tmp/config"
cp "$log4j" "$tmp/config/log4j2.properties"
# Swap the directories in with renames, so a broker starting meanwhile sees the old
# set or the new one (or, for an instant, none), never a half-deleted one.
for d in libs config; do
	[ ! -e "$cache/$d" ] || mv "$cache/$d" "$tmp/old-$d"
	mv "$tmp/$d" "$cache/$d"
done
echo "$want" >"$cache/stamp"
echo "kafka-jars: $(ls "$cache/libs" | wc -l) jars in $cache/libs"
