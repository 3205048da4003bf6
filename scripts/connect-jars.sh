#!/usr/bin/env bash
# Resolves the Kafka Connect runtime pinned in build/connect/pom.xml through Maven into
# CACHEDIR/libs, the Debezium PostgreSQL connector of build/debezium/pom.xml into
# CACHEDIR/plugins/debezium-postgres, and copies the workers' log4j2 configuration into
# CACHEDIR/config.
#
#   scripts/connect-jars.sh CACHEDIR
#
# Idempotent: it does nothing when CACHEDIR/stamp holds the hash of its inputs (both poms,
# the log4j2 configuration and this script, which pins the plugin and the extra jar). The
# jars are written into a temporary directory and moved into place at the end, so an
# interrupted run leaves no half cache.
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
connect_pom="$root/build/connect/pom.xml"
debezium_pom="$root/build/debezium/pom.xml"
log4j="$root/build/connect/log4j2.properties"
# Pinned: a bare `dependency:` prefix fails when the plugin cannot be resolved by prefix.
plugin=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
# What the Connect runtime already provides to every plugin (its parent class loader).
# NB: kafka-clients is excluded with org.apache.kafka and added back below as kafka_clients.
excluded=org.apache.kafka,org.slf4j,com.fasterxml.jackson.core,com.fasterxml.jackson.datatype,at.yawk.lz4,org.xerial.snappy,com.github.luben
# NB (G1 in the Debezium notes): Debezium 3.6.1 is built against Kafka 4.3.0 and uses
# org.apache.kafka.common.utils.Sanitizer, which Kafka 4.4.0 moved; without this jar in the
# plugin directory the task fails at start with NoClassDefFoundError. The plugin class loader
# finds the class here after the runtime's (4.4.0) clients miss it.
kafka_clients=org.apache.kafka:kafka-clients:4.3.0

for tool in java mvn sha256sum; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "connect-jars: $tool not found on PATH; run 'make deps-apt'" >&2
		exit 1
	fi
done

want=$(cat "$connect_pom" "$debezium_pom" "$log4j" "$0" "$root/scripts/jars-lib.sh" | sha256sum | cut -d' ' -f1)
if [ -f "$cache/stamp" ] && [ "$(cat "$cache/stamp")" = "$want" ] && [ -d "$cache/libs" ] && [ -d "$cache/plugins" ]; then
	echo "connect-jars: $cache is up to date"
	exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Maven 3.8 prints ANSI resets even in batch mode; strip them (pipefail keeps mvn's status).
mvn_quiet() { mvn -B -q -Dstyle.color=never "$@" 2>&1 | sed 's/\x1b\[[0-9;]*m//g'; }

echo "connect-jars: resolving Kafka Connect $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$connect_pom") through Maven"
mvn_quiet -f "$connect_pom" "$plugin:copy-dependencies" -DincludeScope=runtime -DoutputDirectory="$tmp/libs"

echo "connect-jars: resolving Debezium $(sed -n 's:.*<debezium.version>\(.*\)</debezium.version>.*:\1:p' "$debezium_pom") through Maven"
plugdir="$tmp/plugins/debezium-postgres"
mvn_quiet -f "$debezium_pom" "$plugin:copy-dependencies" -DincludeScope=runtime \
	-DexcludeGroupIds="$excluded" -DoutputDirectory="$plugdir"
mvn_quiet -f "$debezium_pom" "$plugin:copy" -Dartifact="$kafka_clients" -DoutputDirectory="$plugdir"

check_slf4j_binding connect-jars "$tmp/libs" build/connect/pom.xml
shopt -s nullglob
# ConnectDistributed lives in connect-runtime; the plugin needs its connector and G1's clients.
for pattern in "$tmp/libs/connect-runtime-*.jar" "$plugdir/debezium-connector-postgres-*.jar" "$plugdir/kafka-clients-4.3.0.jar"; do
	found=($pattern)
	if [ "${#found[@]}" -ne 1 ]; then
		echo "connect-jars: expected one $(basename "$pattern"), found ${#found[@]}" >&2
		exit 1
	fi
done

mkdir -p "$tmp/config"
cp "$log4j" "$tmp/config/log4j2.properties"
swap_in "$cache" "$tmp" libs plugins config
echo "$want" >"$cache/stamp"
echo "connect-jars: $(ls "$cache/libs" | wc -l) jars in $cache/libs, $(ls "$cache/plugins/debezium-postgres" | wc -l) in $cache/plugins/debezium-postgres"
