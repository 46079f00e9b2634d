#!/usr/bin/env bash
# A second (third, ...) berth node on this machine, so a laptop can play a small cluster:
# a container with its own Docker engine running `berth agent`, which joins the master over
# the Docker bridge and pulls what it lacks from berth's registry.
#
#   scripts/node.sh start NAME [--master URL] [--registry HOST:PORT] [--token-file FILE]
#                              [-- MORE BERTH AGENT OPTIONS]
#   scripts/node.sh stop NAME
#   scripts/node.sh list
#
# Fast and offline: the node's root is a tiny image imported from an almost empty tar; this
# host's /usr (docker, dockerd, containerd, iptables, python), the project and its Python
# environment are bind-mounted read-only, and the node's engine keeps its images in a fresh
# named volume (removed by `stop`). The agent registers as hostname NAME with the attribute
# node=NAME, so a task can be sent there with a `node` constraint.
#
# --master   the master as the node reaches it [http://<bridge address>:5050]; run it with
#            `berth up --master-host 0.0.0.0` (which needs users, or --insecure).
# --registry berth's registry as the node reaches it [the one the master names: with
#            `berth up --registry-host 0.0.0.0`, <bridge address>:<its port>]. The node's
#            engine talks plain HTTP to it and to every address of the bridge's subnet.
# --token-file  an admin-scope token for the master (or BERTH_AGENT_TOKEN_FILE), when the
#            master has users: berth token create --user NAME --scope admin | tail -n 1
# Needs root and a Docker engine here (scripts/dockerd.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/.." && pwd)
ROOT_IMAGE=berth/node-root:1
LABEL=berth.node

usage() { sed -n '5,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# The engine names the bridge's gateway only when it was configured; otherwise it is the
# first address of the bridge's subnet (as on an engine that picked 172.18.0.0/16 because
# 172.17.0.0/16 was taken, e.g. inside a container).
bridge_address() {
  local gateway
  gateway=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' \
    2>/dev/null | head -n 1)
  if [ -z "$gateway" ]; then
    gateway=$(python3 -c 'import ipaddress, sys; print(next(ipaddress.ip_network(sys.argv[1]).hosts()))' \
      "$(bridge_subnet)" 2>/dev/null) || gateway=172.17.0.1
  fi
  echo "$gateway"
}

bridge_subnet() {
  docker network inspect bridge --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}' \
    2>/dev/null | head -n 1 | grep . || echo 172.17.0.0/16
}

# The node's root: directories, the usr-merged links and who root is; everything else comes
# from this host's /usr.
root_image() {
  docker image inspect "$ROOT_IMAGE" >/dev/null 2>&1 && return 0
  local dir
  dir=$(mktemp -d)
  mkdir -p "$dir"/{usr,etc/alternatives,proc,sys,dev,run,tmp,var/lib/docker,var/log,root,berth}
  ln -s usr/bin "$dir/bin"; ln -s usr/sbin "$dir/sbin"
  ln -s usr/lib "$dir/lib"; ln -s usr/lib64 "$dir/lib64"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$dir/etc/passwd"
  printf 'root:x:0:\ndocker:x:999:\n' >"$dir/etc/group"
  chmod 1777 "$dir/tmp"
  tar -C "$dir" -c . | docker import --message "berth node root" - "$ROOT_IMAGE" >/dev/null
  rm -rf "$dir"
}

# The interpreter the agent runs with: the project's .venv, else main's, else python3.
python_bin() {
  local candidate
  for candidate in "${BERTH_PYTHON:-}" "$project/.venv/bin/python" \
                   "$(git -C "$project" worktree list --porcelain 2>/dev/null \
                      | awk 'NR==1{print $2}')/.venv/bin/python"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; return; fi
  done
  command -v python3
}

start() {
  local name=${1:?a node name}; shift
  local bridge master registry="" token=${BERTH_AGENT_TOKEN_FILE:-} extra=()
  [[ $name =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ ]] || { echo "node.sh: bad name $name" >&2; exit 2; }
  bridge=$(bridge_address)
  master="http://$bridge:5050"
  while [ $# -gt 0 ]; do
    case "$1" in
      --master) master=$2; shift 2 ;;
      --registry) registry=$2; shift 2 ;;
      --token-file) token=$2; shift 2 ;;
      --) shift; extra=("$@"); break ;;
      *) echo "node.sh: unknown option $1" >&2; usage ;;
    esac
  done
  if docker container inspect "berth-node-$name" >/dev/null 2>&1; then
    echo "node.sh: node $name exists (scripts/node.sh stop $name first)" >&2; exit 1
  fi
  root_image
  local python prefixes mounts=()
  python=$(python_bin)
  # The interpreter's own prefix (a pyenv or venv outside /usr) and the venv.
  prefixes=$("$python" -c 'import sys; print(sys.base_prefix); print(sys.prefix)')
  mounts+=(-v /usr:/usr:ro -v /etc/alternatives:/etc/alternatives:ro
           -v "$project:$project:ro")
  local prefix
  for prefix in $prefixes; do
    case "$prefix" in /usr|/usr/*|"$project"|"$project"/*) ;; *) mounts+=(-v "$prefix:$prefix:ro") ;; esac
  done
  local agent=("$python" -m cli agent --master "$master" --hostname "$name"
               --attributes "node=$name" --data-dir /var/lib/berth-agent --ignore-incumbent)
  if [ -n "$registry" ]; then agent+=(--registry "$registry"); fi
  if [ -n "$token" ]; then
    mounts+=(-v "$(realpath "$token"):/berth/agent.token:ro")
    agent+=(--token-file /berth/agent.token)
  fi
  agent+=("${extra[@]}")
  local insecure=(--insecure-registry "$(bridge_subnet)")
  if [ -n "$registry" ]; then insecure+=(--insecure-registry "$registry"); fi
  docker volume rm -f "berth-node-$name-docker" >/dev/null 2>&1 || true
  docker volume create --label "$LABEL=$name" "berth-node-$name-docker" >/dev/null
  # Privileged enough for an engine inside: every capability, no seccomp/apparmor filter.
  # bash is PID 1: on `docker stop` it stops the agent, then the engine.
  if ! docker run -d --name "berth-node-$name" --hostname "$name" --label "$LABEL=$name" \
    --cap-add=ALL --cap-drop=SYS_RESOURCE --security-opt seccomp=unconfined \
    --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw "${mounts[@]}" \
    -v "berth-node-$name-docker:/var/lib/docker" --tmpfs /run --tmpfs /tmp:mode=1777 \
    -e PYTHONPATH="$project" -e PYTHONUNBUFFERED=1 -e PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    -w "$project" "$ROOT_IMAGE" /bin/bash -c '
      dockerd "$@" >/var/log/dockerd.log 2>&1 &
      engine=$!
      for _ in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
      docker info >/dev/null 2>&1 || { echo "node: dockerd did not start"; tail -n 20 /var/log/dockerd.log; exit 1; }
      echo "node: Docker engine up"
      '"$(printf '%q ' "${agent[@]}")"' &
      agent=$!
      trap "kill -TERM \$agent 2>/dev/null; wait \$agent; kill -TERM \$engine; wait \$engine" TERM INT
      wait $agent' \
    node "${insecure[@]}" >/dev/null; then
    docker volume rm -f "berth-node-$name-docker" >/dev/null 2>&1 || true
    docker rm -f "berth-node-$name" >/dev/null 2>&1 || true
    exit 1
  fi
  for _ in $(seq 1 100); do
    if docker logs "berth-node-$name" 2>&1 | grep -q "node: Docker engine up"; then
      echo "node.sh: node $name started (master $master${registry:+, registry $registry});" \
           "its log: docker logs berth-node-$name" >&2
      return 0
    fi
    if [ "$(docker container inspect -f '{{.State.Running}}' "berth-node-$name")" != true ]; then
      break
    fi
    sleep 0.2
  done
  echo "node.sh: node $name did not come up; its log follows" >&2
  docker logs "berth-node-$name" 2>&1 | tail -n 30 >&2
  exit 1
}

stop() {
  local name=${1:?a node name}
  docker rm -f "berth-node-$name" >/dev/null 2>&1 || { echo "node.sh: no node $name" >&2; exit 1; }
  docker volume rm -f "berth-node-$name-docker" >/dev/null 2>&1 || true
  echo "node.sh: node $name stopped and removed" >&2
}

list() {
  docker ps -a --filter "label=$LABEL" \
    --format 'table {{.Label "berth.node"}}\t{{.Names}}\t{{.Status}}'
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  list) list ;;
  *) usage ;;
esac
