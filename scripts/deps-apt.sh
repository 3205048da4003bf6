#!/usr/bin/env bash
# Installs the Debian packages the tests need, only those missing.
set -euo pipefail
# postgresql: the Debezium target's source database (target/debezium/pg), run by the harness as
# its own process; util-linux: setpriv, which drops to the postgres user inside a namespace.
pkgs=(iproute2 iptables iputils-ping protobuf-compiler maven openjdk-17-jre-headless procps chromium postgresql util-linux)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# A JDK from elsewhere on PATH is fine for Kafka's runtime.
if command -v java >/dev/null 2>&1; then
	missing=("${missing[@]/openjdk-17-jre-headless/}")
fi
if command -v mvn >/dev/null 2>&1; then
	missing=("${missing[@]/maven/}")
fi
read -r -a missing <<<"${missing[*]:-}"
if [ "${#missing[@]}" -eq 0 ]; then
	echo "deps-apt: all Debian packages present"
	exit 0
fi
echo "deps-apt: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
