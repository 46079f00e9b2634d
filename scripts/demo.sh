#!/usr/bin/env bash
# The README's first command. Sets everything up (scripts/setup.sh), runs `berth up` (master,
# framework and one local agent with nodetype "lab", SQLite under ./data) and plays the
# Charmander seed's curl session against it with its stress60mb task, then a job: a batch
# of 20 iterations (examples/jobs/batch-20.json) through `berth job`, a Jisto job of three
# iterations through Jisto's CLI verbs, and a JuliaRun call; then a second node
# (scripts/node.sh: a container with its own Docker engine) joins, and a job built from an
# image template (examples/image-template, `berth image upload`) runs there, pulled from
# berth's registry.
# On a terminal berth stays up with the task running until Ctrl-C; otherwise (CI, scripts,
# fresh-machine checks) the session ends by killing the task and stopping berth cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

data=${BERTH_DATA_DIR:-./data}
api=localhost:7075
mkdir -p "$data"
# The master and the registry listen on this host's Docker bridge too, for the second node
# (a container on this host); --insecure: no users here, and nothing but this host's
# containers reaches the bridge.
.venv/bin/berth up --nodetype lab --data-dir "$data" --master-host 0.0.0.0 \
  --registry-host 0.0.0.0 --insecure 2>"$data/berth-up.log" &
berth=$!
node=demo-node-2
stop_berth() {
  scripts/node.sh stop "$node" >/dev/null 2>&1 || true
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
echo "\$ scripts/node.sh start $node          # a second node, with its own Docker engine"
scripts/node.sh start "$node"
for _ in $(seq 1 120); do
  curl -fs localhost:5050/v1/agents | grep -q "\"$node\"" && break
  sleep 0.5
done
echo "\$ tar -C examples/image-template -czf $data/hello-template.tar.gz ."
tar -C examples/image-template -czf "$data/hello-template.tar.gz" .
echo "\$ berth image upload $data/hello-template.tar.gz"
.venv/bin/berth image upload "$data/hello-template.tar.gz"
for _ in $(seq 1 240); do
  curl -fs "$api/v1/images" | grep -q '"state": *"building"' || break
  sleep 0.5
done
echo "\$ berth image list"
.venv/bin/berth image list
printf '{"name": "on-node-2", "type": "batch", "completions": 1, "task": {"dockerimage": "hello-template:latest", "cpus": 0.1, "mem": 32, "constraints": [["node", "CLUSTER", "%s"]]}}\n' "$node" >"$data/on-node-2.json"
echo "\$ cat $data/on-node-2.json; berth job submit $data/on-node-2.json"
cat "$data/on-node-2.json"
.venv/bin/berth job submit "$data/on-node-2.json"
.venv/bin/berth job wait on-node-2 --timeout 180
echo "\$ berth job logs on-node-2"
.venv/bin/berth job logs on-node-2
echo "\$ scripts/node.sh stop $node"
scripts/node.sh stop "$node"
echo "\$ curl $api/client/task/reshuffle"
curl -s "$api/client/task/reshuffle"
echo
echo "\$ curl -X DELETE $api/client/task/stress"
curl -s -X DELETE "$api/client/task/stress"
echo
stop_berth
trap - EXIT
echo "demo: done (berth stopped; its log is $data/berth-up.log)"
