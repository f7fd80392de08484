#!/usr/bin/env bash
# Wall time of every experiment, and whether a SIGKILL mid-run resumes to identical results.
#
# For each config: (1) an uninterrupted `statjax run`, timed; (2) a second run of the
# same config, killed with SIGKILL $KILL_DELAY seconds (default 0.5) after its first
# checkpoint appears (mid-run: in the next chunk of work), then `statjax run --resume`;
# (3) `cmp` of the two runs' summary.json and metrics.jsonl. One table row per experiment at the end
# (also written to $OUT/table.md).
#
# Usage (from anywhere; runs in the repository that holds this script):
#   benchmarks/experiment_timings.sh                 # every configs/*.yaml (minutes each!)
#   benchmarks/experiment_timings.sh landscape ising_phase     # some of them
#   TINY=1 benchmarks/experiment_timings.sh          # the tests' tiny configs instead
# Environment: OUT (default /tmp/statjax-timings), REPO (default: this repository).
# The machine is shared: wall times include JAX start-up and compilation and whatever
# else runs at the same time (note `uptime` beside them).
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
OUT=${OUT:-/tmp/statjax-timings}
TINY=${TINY:-0}
KILL_DELAY=${KILL_DELAY:-0.5}
cd "$REPO" || exit 1
PY="$REPO/.venv/bin/python"
STATJAX="$REPO/.venv/bin/statjax"
mkdir -p "$OUT"

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for path in configs/*.yaml; do names+=("$(basename "$path" .yaml)"); done
fi

config_of() {  # the YAML to run for experiment $1: the shipped one, or the test's tiny one
    local name=$1
    if [ "$TINY" = "0" ]; then
        echo "configs/$name.yaml"
        return
    fi
    local tiny="$OUT/tiny/$name.yaml"
    mkdir -p "$OUT/tiny"
    "$PY" - "$name" "$tiny" <<'PYEOF'
import importlib.util, pathlib, sys, tempfile
sys.path.insert(0, ".")
name, target = sys.argv[1], pathlib.Path(sys.argv[2])
from statjax.config import config_to_yaml
spec = importlib.util.spec_from_file_location("t", f"tests/experiments/test_{name}.py")
test = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test)
module = __import__(f"experiments.{name}", fromlist=["Config"])
# The settings the tests run with (where a test passes extra ones, the same here).
extra = {"double_descent": {"checkpoint_every": 2}, "spin_glass": {"checkpoint_every": 1},
         "rbm_digits": {"checkpoint_every": 1}}.get(name, {})
config = test._config(module, pathlib.Path(tempfile.mkdtemp()), **extra)
target.write_text(config_to_yaml(config))
PYEOF
    echo "$tiny"
}

run_dir_of() {  # the single run folder under $1 (OUTPUT_DIR/NAME/TIMESTAMP)
    find "$1" -mindepth 2 -maxdepth 2 -type d 2>/dev/null | head -n 1
}

rows=()
for name in "${names[@]}"; do
    config=$(config_of "$name") || { rows+=("| $name | config failed | | | |"); continue; }
    base="$OUT/$name"
    rm -rf "$base"
    mkdir -p "$base"
    echo "== $name ($config); load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

    start=$(date +%s.%N)
    "$STATJAX" run "$config" --quiet --output-dir "$base/full" >"$base/full.log" 2>&1
    status=$?
    wall=$(echo "$(date +%s.%N) - $start" | bc)
    full=$(run_dir_of "$base/full")
    if [ $status -ne 0 ] || [ -z "$full" ]; then
        rows+=("| $name | failed (exit $status, see $base/full.log) | | | |")
        continue
    fi

    # The second run: SIGKILL shortly after its first checkpoint (mid-run).
    "$STATJAX" run "$config" --quiet --output-dir "$base/killed" >"$base/killed.log" 2>&1 &
    pid=$!
    start=$(date +%s.%N)
    killed_at="not killed (finished first)"
    while kill -0 "$pid" 2>/dev/null; do
        sleep 0.1
        second=$(run_dir_of "$base/killed")
        [ -n "$second" ] || continue
        steps=$(find "$second/checkpoint" -mindepth 1 -maxdepth 1 -name '[0-9]*' ! -name '*tmp*' 2>/dev/null | sort -V)
        if [ -n "$steps" ]; then
            sleep "$KILL_DELAY"
            elapsed=$(echo "$(date +%s.%N) - $start" | bc)
            steps=$(find "$second/checkpoint" -mindepth 1 -maxdepth 1 -name '[0-9]*' ! -name '*tmp*' 2>/dev/null | sort -V)
            if kill -9 "$pid" 2>/dev/null; then
                killed_at="after step $(basename "$(echo "$steps" | tail -n 1)") (${elapsed%.*} s)"
                [ -f "$second/summary.json" ] && killed_at="$killed_at, summary already written"
            fi
            break
        fi
    done
    wait "$pid" 2>/dev/null
    second=$(run_dir_of "$base/killed")
    if [ "$killed_at" != "not killed (finished first)" ]; then
        "$STATJAX" run --resume "$second" --quiet >"$base/resume.log" 2>&1
        resumed=$?
    else
        resumed=0
    fi
    same="yes"
    for file in summary.json metrics.jsonl; do
        cmp -s "$full/$file" "$second/$file" || same="NO ($file differs)"
    done
    [ $resumed -eq 0 ] || same="NO (resume exit $resumed, see $base/resume.log)"
    rows+=("| $name | $(printf '%.1f' "$wall") | $killed_at | $same | $(cut -d' ' -f1 /proc/loadavg) |")
done

{
    echo "| experiment | wall time (s) | SIGKILL at | resumed summary + metrics identical | load |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} | tee "$OUT/table.md"
