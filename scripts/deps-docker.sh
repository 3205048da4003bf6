#!/usr/bin/env bash
# Makes a Docker engine available for the container tests (sink/kafka testcontainers provider)
# and `make kafka-image`:
#
#   scripts/deps-docker.sh CACHEDIR
#
#  1. installs debootstrap (for `make kafka-image`) and, unless some Docker engine already answers,
#     Debian's docker.io, when they are missing;
#  2. starts dockerd in the background when no engine answers, logging to CACHEDIR/docker/dockerd.log;
#  3. waits, up to CHAOSRUN_DOCKER_WAIT seconds (default 60), until `docker info` answers.
#
# Where no engine can run (no privileges for one in a sandbox, say) it prints one line saying why and
# exits 0, so `make deps` still succeeds and the container tests skip with that reason. With
# CHAOSRUN_REQUIRE_DOCKER=1 (as .ci/run sets it) it fails instead: CI must not skip them.
# Safe to run twice: a running engine is left alone.
set -euo pipefail

if [ "$#" -ne 1 ]; then
	echo "usage: $0 CACHEDIR" >&2
	exit 2
fi
cache=$1
wait_s=${CHAOSRUN_DOCKER_WAIT:-60}

# unavailable reports why no engine is available: fatal when one is required.
unavailable() {
	if [ "${CHAOSRUN_REQUIRE_DOCKER:-0}" = 1 ]; then
		echo "deps-docker: $1 (CHAOSRUN_REQUIRE_DOCKER=1, so this is an error)" >&2
		exit 1
	fi
	echo "deps-docker: $1; the container tests will skip" >&2
	exit 0
}

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

engine_up() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

pkgs=(debootstrap)
# An engine from elsewhere (a CI runner's, Docker's own packages) is fine: docker.io would conflict.
engine_up || pkgs+=(docker.io)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	command -v apt-get >/dev/null 2>&1 || unavailable "no apt-get to install ${missing[*]}"
	echo "deps-docker: installing ${missing[*]}"
	"${sudo_cmd[@]}" apt-get update -qq
	if ! DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
		unavailable "apt-get install ${missing[*]} failed"
	fi
fi

if engine_up; then
	echo "deps-docker: Docker engine running ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
	exit 0
fi

dockerd_bin=$(command -v dockerd || true)
[ -n "$dockerd_bin" ] || unavailable "no dockerd on PATH after installing docker.io"

mkdir -p "$cache/docker"
log="$cache/docker/dockerd.log"
# A pid file left by an engine that died would make dockerd refuse to start.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
	"${sudo_cmd[@]}" rm -f /var/run/docker.pid
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
	echo "deps-docker: starting dockerd (log: $log)"
	# setsid: the engine outlives this script and make; its output goes to the log only.
	"${sudo_cmd[@]}" setsid "$dockerd_bin" >>"$log" 2>&1 </dev/null &
fi

deadline=$((SECONDS + wait_s))
until engine_up; do
	if ! pgrep -x dockerd >/dev/null 2>&1; then
		unavailable "dockerd exited during start; last line of $log: $(tail -n 1 "$log" | cut -c1-300)"
	fi
	if [ "$SECONDS" -ge "$deadline" ]; then
		unavailable "dockerd did not answer within ${wait_s}s; last line of $log: $(tail -n 1 "$log" | cut -c1-300)"
	fi
	sleep 0.5
done
echo "deps-docker: Docker engine ready ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
