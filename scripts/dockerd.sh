#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install Debian's docker.io if dockerd
# is missing, start dockerd in the background if nothing answers, wait until it does.
# Idempotent; needs root. No registry is used: images are built locally (local-images.sh).
set -euo pipefail
log=${BERTH_DOCKERD_LOG:-/var/log/berth-dockerd.log}

if ! command -v dockerd >/dev/null 2>&1; then
  echo "dockerd.sh: installing docker.io from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if docker info >/dev/null 2>&1; then
  echo "dockerd.sh: a Docker engine is already running" >&2
  exit 0
fi

# A container (as on CI and fresh machines) may have no cgroup mounts of its own and no
# iptables NAT tables loaded; dockerd copes with both when started like this.
mkdir -p /var/lib/docker /run
# Its own session: an engine started from a job must outlive the job's process group.
setsid nohup dockerd --host=unix:///var/run/docker.sock >"$log" 2>&1 </dev/null &
for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    echo "dockerd.sh: Docker engine is up" >&2
    exit 0
  fi
  sleep 0.5
done
echo "dockerd.sh: dockerd did not come up in 60 s; its log follows" >&2
tail -n 40 "$log" >&2
exit 1
