#!/usr/bin/env bash
# The README's first command. Sets everything up (scripts/setup.sh), runs `berth up` (master,
# framework and one local agent with nodetype "lab", SQLite under ./data) and plays the
# Charmander seed's curl session against it with its stress60mb task, then a job: a batch
# of 20 iterations (examples/jobs/batch-20.json) through `berth job`.
# On a terminal berth stays up with the task running until Ctrl-C; otherwise (CI, scripts,
# fresh-machine checks) the session ends by killing the task and stopping berth cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

data=${BERTH_DATA_DIR:-./data}
api=localhost:7075
mkdir -p "$data"
.venv/bin/berth up --nodetype lab --data-dir "$data" 2>"$data/berth-up.log" &
berth=$!
stop_berth() {
  if kill -0 "$berth" 2>/dev/null; then
    kill -INT "$berth"
    wait "$berth" || true
  fi
}
trap stop_berth EXIT

for _ in $(seq 1 120); do
  curl -fs "$api/admin/ping" >/dev/null 2>&1 && break
  kill -0 "$berth" 2>/dev/null || { echo "berth up exited; its log:" >&2; cat "$data/berth-up.log" >&2; exit 1; }
  sleep 0.5
done

echo "\$ curl -i $api/admin/ping"
curl -si "$api/admin/ping"
echo
echo "\$ curl -s -X POST -T examples/stress60mb.json -H \"Accept: application/json\" -H \"Content-Type: application/json\" $api/client/task"
curl -s -X POST -T examples/stress60mb.json -H "Accept: application/json" -H "Content-Type: application/json" "$api/client/task"
echo

for _ in $(seq 1 120); do
  curl -fs "$api/client/task" | grep -q '"RUNNING"' && break
  sleep 0.5
done
echo "\$ berth task list"
.venv/bin/berth task list
echo "\$ docker ps --filter label=berth.task_id"
docker ps --filter label=berth.task_id --format 'table {{.Names}}\t{{.Image}}\t{{.Status}}'
echo "\$ berth job submit examples/jobs/batch-20.json"
.venv/bin/berth job submit examples/jobs/batch-20.json

if [ -t 0 ] && [ -z "${CI:-}" ]; then
  echo
  echo "berth is up: try 'curl $api/client/task', '.venv/bin/berth task list' or"
  echo "'.venv/bin/berth job status iterations'; Ctrl-C stops it."
  wait "$berth"
  exit 0
fi

echo "\$ berth job wait iterations --timeout 300"
.venv/bin/berth job wait iterations --timeout 300
echo "\$ berth job logs iterations --tail 1"
.venv/bin/berth job logs iterations --tail 1
echo "\$ curl $api/client/task/reshuffle"
curl -s "$api/client/task/reshuffle"
echo
echo "\$ curl -X DELETE $api/client/task/stress"
curl -s -X DELETE "$api/client/task/stress"
echo
stop_berth
trap - EXIT
echo "demo: done (berth stopped; its log is $data/berth-up.log)"
