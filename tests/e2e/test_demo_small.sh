#!/usr/bin/env bash
# End to end: the demo at DEMO_SCALE=small; asserts every artefact exists and every metric is in [0, 1].
set -u
build=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out" "$out.log"' EXIT
if ! DEMO_SCALE=small DEMO_OUT="$out" bash "$root/scripts/demo.sh" "$(realpath --relative-to="$root" "$build")" > "$out.log" 2>&1; then
  tail -40 "$out.log"; echo "0 passed, 1 failed"; exit 1
fi
fails=0; passes=0
expect() { if eval "$1"; then passes=$((passes+1)); else echo "FAIL: $1"; fails=$((fails+1)); fi; }
for f in online_boutique.h5 train_ticket.h5 embeddings_trained_time.h5 embeddings_trained_system.h5 \
         embeddings_baseline_time.h5 embeddings_baseline_system.h5 runs/pretrain_time/final/model.safetensors runs/pretrain_time/final/config.json \
         runs/pretrain_time/final/README.md runs/pretrain_time/metrics.jsonl report_system/report.md \
         report_system/report.json report_time/report.md report_time/report.json release_time/model.safetensors \
         release_time/config.json release_time/README.md release_system/model.safetensors; do
  expect "[[ -s '$out/$f' ]]"
done
for split in system time; do
  # Every figure under trained/baseline ad, fl, fc is a number in [0, 1].
  expect "/usr/bin/python3 - '$out/report_$split/report.json' <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
bad = []
def walk(x, path):
    if isinstance(x, dict):
        for k, v in x.items():
            if k not in ('windows', 'events', 'state_models_used', 'confusion', 'test_windows', 'train_windows',
                         'threshold', 'history_threshold', 'own_history_windows', 'types', 'unseen_windows',
                         'unseen_types', 'call_graph_calls', 'callee_discount', 'rule'):
                walk(v, path + '.' + k)
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        if not (0.0 <= x <= 1.0): bad.append((path, x))
for side in ('trained', 'baseline'):
    for task in ('ad', 'fl', 'fc'):
        if task not in r[side]: bad.append((side + '.' + task, 'missing'))
        walk(r[side].get(task, {}), side + '.' + task)
sys.exit(1 if bad else 0)
PY"
done
# FL read each store's call graph (rslicer embed writes the service calls of its traces).
expect "/usr/bin/python3 -c \"import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))['trained']['fl']['call_graph_calls'] > 0 else 1)\" '$out/report_time/report.json'"
# The t-SNE maps (computed by rslicer evaluate) cover the chosen windows, trained and baseline, and were drawn.
expect "[[ -s '$out/report_time/tsne_states.png' ]]"
expect "/usr/bin/python3 -c \"import json, math, sys; p = json.load(open(sys.argv[1])); sys.exit(0 if all(len(p[s]['tsne']['map']) == len(p[s]['tsne']['index']) > 10 and math.isfinite(p[s]['tsne']['kl']) for s in ('trained', 'baseline')) else 1)\" '$out/report_time/plot_inputs.json'"
expect "[[ \$(wc -l < '$out/runs/pretrain_time/metrics.jsonl') -ge 3 ]]"
expect "ls '$out'/runs/pretrain_time/checkpoints/step-*/DONE > /dev/null"
# Each release records the serializer its model read (pretrain's final and export's), and an embedding run with other
# texts says so in one line per option.
for release in runs/pretrain_time/final release_time; do
  expect "/usr/bin/python3 -c \"import json, sys; s = json.load(open(sys.argv[1]))['rslicer']['summary']['serializer']; sys.exit(0 if s['caller_wait'] is False and s['mask_event_params'] is True else 1)\" '$out/$release/config.json'"
done
expect "! grep -q 'embedding texts unlike' '$out.log'"
expect "'$build/bin/rslicer' embed data.stores=[$out/online_boutique.h5] embed.release='$out/release_time' embed.serializer.caller_wait=true embed.components.enabled=false embed.max_tokens=32 out='$out/other_texts.h5' hydra.run.dir='$out/runs/other_texts' 2>&1 | grep -q 'embedding texts unlike pre-training.s: caller_wait: false in pre-training, true here'"
# Each pre-training read its split's training side only (the held-out system's store not at all).
expect "grep -q 'pre-training on [0-9]* of [0-9]* windows (split=system: the test side held out' '$out.log'"
echo "$passes passed, $fails failed"
((fails == 0))
