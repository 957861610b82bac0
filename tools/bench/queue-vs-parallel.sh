#!/usr/bin/env bash
# The trial queue against `sweep.parallel: 2`, side by side: configs/sweep.yaml on the real corpus, reduced like
# for like (150 batches per epoch, no pruning; override with SET=...), both logging to one real MLflow server
# (../shared/tools/mlflow). B: `nerflow train --queue` with two `nerflow worker`s on this machine, each given
# its half of the cores (NERFLOW_CPUS, as `parallel: 2` gives each trial); A: `sweep.parallel=2`.
# ORDER (default "A B B A") says which sides run and in what order, so the machine's load drifts over both alike.
# Prints the wall time of each with the load average. Usage: tools/bench/queue-vs-parallel.sh [workdir]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CI=true
W=${1:-$(mktemp -d /tmp/nerflow-queue-bench-XXXX)}
SET=${SET:-"--set train.max_batches_per_epoch=150 --set sweep.pruner.type=none"}
ORDER=${ORDER:-"A B B A"}
MLFLOW=${MLFLOW_SH:-../shared/tools/mlflow/mlflow.sh}
SHARE=$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))
port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
PORT=$(port); RPORT=$(port)
mkdir -p "$W/redis"
URI=$("$MLFLOW" start "$W/mlf" "$PORT" | tail -1)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$W/redis" > "$W/redis.log" 2>&1 &
RPID=$!
W1=; W2=
trap '"$MLFLOW" stop "$W/mlf" || true; kill $RPID ${W1:-} ${W2:-} 2>/dev/null || true' EXIT
export MLFLOW_TRACKING_URI=$URI
nerflow() { node packages/cli/bin/nerflow.js "$@"; }
echo "cpu: $(lscpu | grep 'Model name' | sed 's/ \+/ /g'); $(nproc) cores; order: $ORDER"
# shellcheck disable=SC2086
nerflow ingest --config sweep.yaml $SET 2>&1 | tail -1
# shellcheck disable=SC2086
nerflow featurize --config sweep.yaml $SET 2>&1 | tail -1
n=0
for side in $ORDER; do
  n=$((n + 1))
  if [ "$side" = B ]; then
    # a fresh Redis db and experiment per run: every run trains all 8 trials (a queue remembers the trials it
    # trained, and a worker resumes the MLflow run of a job id it finds in the experiment)
    Q=redis://127.0.0.1:$RPORT/$n
    NERFLOW_CPUS=$SHARE nice -n 5 node packages/cli/bin/nerflow.js worker --queue "$Q" > "$W/W1-$n.log" 2>&1 & W1=$!
    NERFLOW_CPUS=$SHARE nice -n 5 node packages/cli/bin/nerflow.js worker --queue "$Q" > "$W/W2-$n.log" 2>&1 & W2=$!
    sleep 3
    echo "B (queue, 2 workers, NERFLOW_CPUS=$SHARE each) starts; $(uptime)"
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    nice -n 5 node packages/cli/bin/nerflow.js train --config sweep.yaml $SET --set tracking.experiment=qbench-$n \
      --queue "$Q" > "$W/B-$n.log" 2>&1
    echo "B: $(echo "$(date +%s.%N) - $t0" | bc) s; $(uptime)"
    kill $W1 $W2; W1=; W2=; sleep 3
  else
    echo "A (sweep.parallel=2) starts; $(uptime)"
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    nice -n 5 node packages/cli/bin/nerflow.js train --config sweep.yaml $SET --set tracking.experiment=qbench-$n \
      --set sweep.parallel=2 --force \
      > "$W/A-$n.log" 2>&1
    echo "A: $(echo "$(date +%s.%N) - $t0" | bc) s; $(uptime)"
  fi
done
echo "logs in $W"
