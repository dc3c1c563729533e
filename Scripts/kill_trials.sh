#!/usr/bin/env bash
# kill -9 at random moments: does a run always leave a complete latest checkpoint that
# resumes exactly?
#
#   Scripts/kill_trials.sh [TRIALS] [STEPS]        (defaults: 50 trials, 100 steps)
#
# Uses .build/release/kallima if built, else .build/debug/kallima ($KALLIMA_BINARY
# overrides), on $KALLIMA_DEVICE or opencl (PoCL on a machine without a GPU; the CPU
# reference backend keeps Double state, so only OpenCL resumes bit-exactly). A tiny DCGAN
# trains on 40 random 8x8 images with a checkpoint every step, so kills often land in a
# write. Each trial: start `kallima train`, wait a uniformly random time between 0 and the
# duration of an uninterrupted run, kill -9, then check:
#   - latest.safetensors exists, unless no checkpoint was written yet (no step files either);
#   - it loads completely (`kallima sample` reads every tensor of it);
#   - no step_N file is newer than it;
#   - `kallima train --resume` (no --steps: the checkpoint's target) finishes, and its final
#     checkpoint is byte-identical to the uninterrupted run's.
# Prints one line per trial and a summary; exits 1 if any check failed.
set -euo pipefail

trials=${1:-50}
steps=${2:-100}
root=$(cd "$(dirname "$0")/.." && pwd)
kallima=${KALLIMA_BINARY:-}
if [[ -z "$kallima" ]]; then
  for c in release debug; do
    if [[ -x "$root/.build/$c/kallima" ]]; then kallima="$root/.build/$c/kallima"; break; fi
  done
fi
[[ -x "$kallima" ]] || { echo "kallima is not built: run swift build (or set KALLIMA_BINARY)" >&2; exit 2; }
device=${KALLIMA_DEVICE:-opencl}
[[ "$device" == opencl* ]] || device=opencl

work=$(mktemp -d "${TMPDIR:-/tmp}/kallima-kill-trials.XXXXXX")
trap 'rm -rf "$work"' EXIT
# 40 random 8x8 gray images as an idx3 file (header: magic 0x00000803, count 40, 8 rows, 8 columns).
printf '\x00\x00\x08\x03\x00\x00\x00\x28\x00\x00\x00\x08\x00\x00\x00\x08' > "$work/images-idx3-ubyte"
head -c 2560 /dev/urandom >> "$work/images-idx3-ubyte"

# The `kallima train` command of a run in folder $1 (run directly, not through a function,
# so that $! is kallima's own pid).
train_args() {
  args=("$kallima" train --data "$work/images-idx3-ubyte" --size 8 --batch 4 --nz 8 --width 4 --seed 11 --flip
    --log-every 10 --sample-every 100000 --checkpoint-every 1 --steps "$steps" --device "$device" --out "$1")
}

now() { date +%s.%N; }
start=$(now)
train_args "$work/reference"
"${args[@]}" 2> "$work/reference.log"
duration=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
echo "kallima: $kallima; device: $device; uninterrupted run of $steps steps: $duration s; $trials trials"

# The step recorded in a checkpoint's training metadata (in the JSON header, escaped).
step_of() { head -c 65536 "$1" | grep -ao '\\"step\\":[0-9]*' | head -1 | grep -o '[0-9]*$'; }

killed=0 finished=0 present=0 before_first=0 missing=0 corrupt=0 newer_step=0
exact=0 resume_failed=0 differed=0 temporaries=0 removed=0
for ((t = 1; t <= trials; t++)); do
  run="$work/trial"
  rm -rf "$run"
  delay=$(awk -v r="$RANDOM" -v d="$duration" 'BEGIN { printf "%.3f", r / 32767 * d }')
  train_args "$run"
  "${args[@]}" 2> "$work/trial.log" &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2> /dev/null || true
  status=0
  wait "$pid" 2> /dev/null || status=$?
  if [[ $status -eq 137 ]]; then outcome="killed at $delay s"; killed=$((killed + 1))
  else outcome="finished (exit $status) before $delay s"; finished=$((finished + 1)); fi

  ckpt="$run/checkpoints"
  latest="$ckpt/latest.safetensors"
  last_step=$(ls "$ckpt" 2> /dev/null | sed -n 's/^step_0*\([0-9][0-9]*\)\.safetensors$/\1/p' | sort -n | tail -1 || true)
  left=$(ls -A "$ckpt" 2> /dev/null | grep -c '^\.' || true)
  temporaries=$((temporaries + left))
  if [[ ! -f "$latest" ]]; then
    if [[ -n "$last_step" ]]; then
      missing=$((missing + 1)); echo "trial $t: $outcome: FAIL latest.safetensors missing, step_$last_step exists"
    else
      before_first=$((before_first + 1)); echo "trial $t: $outcome: no checkpoint yet (killed before the first)"
    fi
    continue
  fi
  present=$((present + 1))
  if ! "$kallima" sample --checkpoint "$latest" --n 4 --device "$device" --out "$work/check.png" > /dev/null 2> "$work/check.log"; then
    corrupt=$((corrupt + 1)); echo "trial $t: $outcome: FAIL latest does not load: $(tail -1 "$work/check.log")"; continue
  fi
  at=$(step_of "$latest" || true)
  if [[ -n "$last_step" && "$at" -lt "$last_step" ]]; then
    newer_step=$((newer_step + 1)); echo "trial $t: $outcome: FAIL latest is step $at, step_$last_step is newer"
  fi
  if ! "$kallima" train --resume "$run" --device "$device" > /dev/null 2> "$work/resume.log"; then
    resume_failed=$((resume_failed + 1)); echo "trial $t: $outcome: FAIL --resume: $(tail -1 "$work/resume.log")"; continue
  fi
  gone=$((left - $(ls -A "$ckpt" | grep -c '^\.' || true)))
  removed=$((removed + gone))
  if cmp -s "$latest" "$work/reference/checkpoints/latest.safetensors"; then
    exact=$((exact + 1)); echo "trial $t: $outcome: latest at step $at ($left temporary file(s), $gone removed by the resume); resumed to $steps exactly"
  else
    differed=$((differed + 1)); echo "trial $t: $outcome: FAIL the resumed run's final checkpoint differs from the uninterrupted run's"
  fi
done

failures=$((missing + corrupt + newer_step + resume_failed + differed))
echo "summary: $trials trials ($killed killed, $finished finished before the kill); latest checkpoint present $present," \
  "absent before the first checkpoint $before_first, missing $missing, corrupt $corrupt, older than a step file $newer_step;" \
  "resumes exact $exact, failed $resume_failed, differing $differed; temporary files left by kills $temporaries" \
  "($removed removed by resumes); failures $failures"
[[ $failures -eq 0 ]]
