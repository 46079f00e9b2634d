#!/usr/bin/env bash
# The README's first command. Sets everything up (scripts/setup.sh), runs `berth up` (master,
# framework and one local agent with nodetype "lab", SQLite under ./data) and plays the
# Charmander seed's curl session against it with its stress60mb task, then a job: a batch
# of 20 iterations (examples/jobs/batch-20.json) through `berth job`, a Jisto job of three
# iterations through Jisto's CLI verbs, and a JuliaRun call.
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
echo "\$ berth job create hello-jisto            # Jisto's CLI verbs"
created=$(.venv/bin/berth job create hello-jisto)
echo "$created"
uuid=$(echo "$created" | sed -n 's/.*UUID: { \(.*\) }.*/\1/p')
for _ in 1 2 3; do
  echo "\$ berth task create $uuid berth/busybox env 'SLEEP_TIME=1'"
  .venv/bin/berth task create "$uuid" berth/busybox env 'SLEEP_TIME=1'
done
echo "\$ berth job run $uuid"
.venv/bin/berth job run "$uuid"
for _ in $(seq 1 240); do
  curl -fs "$api/v1/job/$uuid" | grep -q '"State": *"Finished"' && break
  sleep 0.5
done
echo "\$ berth job status $uuid"
.venv/bin/berth job status "$uuid"
echo "\$ curl -s $api/getSystemStatus             # JuliaRun's HTTP API"
curl -s "$api/getSystemStatus"
echo
echo "\$ curl $api/client/task/reshuffle"
curl -s "$api/client/task/reshuffle"
echo
echo "\$ curl -X DELETE $api/client/task/stress"
curl -s -X DELETE "$api/client/task/stress"
echo
stop_berth
trap - EXIT
echo "demo: done (berth stopped; its log is $data/berth-up.log)"
