#!/usr/bin/env bash
# Issue [6/6]: the paper's CelebA prediction schedule at CelebA scale on one GPU, on SynthFaces,
# with the throughput benchmark on the same data. Runs as it is on the device machine
# (python3 with torch, no installs). Usage: [N=202599] [OUTDIR=dir] bash benchmarks/h200_run.sh
# Stages write into $OUTDIR as they finish, so a run cut short still reports what it did.
# Order: generation, cache, training (+ its test evaluation), benchmark, stand-alone evaluate.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
N=${N:-202599}
OUTDIR=${OUTDIR:-${OUT:-/tmp/mgg_out}}
WORK=${WORK:-/tmp/mgg_work}
WORKERS=${WORKERS:-$(nproc)}
DEVICE=${DEVICE:-cuda}
BENCH_STEPS=${BENCH_STEPS:-30}
TRAIN_ARGS=${TRAIN_ARGS:-}
BENCH_ARGS=${BENCH_ARGS:-}
COMPILE=${COMPILE:-}           # e.g. COMPILE=--compile
PY=${PY:-python3}
mkdir -p "$OUTDIR" "$WORK"
stamp() { date +%s.%N; }
log() { echo "[$(date +%T)] $*" | tee -a "$OUTDIR/stages.log"; }
rec() { echo "$1 $(awk "BEGIN{print $(stamp) - $2}")" >> "$OUTDIR/stage_times.txt"; }

log "machine: $(nproc) cores; $($PY -c 'import torch,sys;print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else "no cuda")')"
t=$(stamp); log "synth n=$N workers=$WORKERS"
$PY -m mggnet_lite synth --out "$WORK/sf" --n "$N" --seed 0 --workers "$WORKERS" --no-masks --quiet 2>&1 | tail -3
rec generation "$t"; log "synth done"

t=$(stamp); log "cache build (train, valid, test)"
$PY -m mggnet_lite cache --data "$WORK/sf" --workers "$WORKERS" --no-progress 2>&1 | tail -5
rec cache_build "$t"; log "cache done"

t=$(stamp); log "train mggnet, paper schedule (CelebA prediction: 9 + 5 epochs, batch 144)"
$PY -m mggnet_lite train --data "$WORK/sf" --profile full --variant mggnet --weights none \
  --device "$DEVICE" $COMPILE --no-progress --out "$OUTDIR/run" $TRAIN_ARGS 2>&1 \
  | grep -v "^  [A-Z0-9]" | tail -25
rec train_command "$t"; log "train done"

t=$(stamp); log "bench on the valid split"
$PY -m mggnet_lite bench --data "$WORK/sf" --split valid --image-size 224 --batch-size 144 \
  --steps "$BENCH_STEPS" --warmup 5 --workers "$WORKERS" --device "$DEVICE" \
  --variants baseline mggnet $BENCH_ARGS --out "$OUTDIR/bench.json" 2>&1 | grep -v Warning | tail -8
rec bench "$t"; log "bench done"

t=$(stamp); log "evaluate on test"
$PY -m mggnet_lite evaluate "$OUTDIR/run" --data "$WORK/sf" --split test --device "$DEVICE" \
  --json "$OUTDIR/evaluate.json" 2>&1 | grep -v "^  [A-Z0-9]" | tail -20
rec evaluate_command "$t"; log "all done"
