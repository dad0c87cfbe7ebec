#!/usr/bin/env bash
# Hotword settings through the real CLI: for each CONFIG, `cifst decode` the posteriors with the TLG graph and score
# the result with `cifst score --hotwords` (WER, recall/precision, false alarms, B-WER, U-WER, CPU s, peak RSS).
# Two decodes run at a time (one thread each). Finished configs are not decoded again.
#
#   tools/bench/hotwords_cli_sweep.sh POST_DIR GRAPH_DIR DATA_DIR TOKENIZER OUT_ROOT "DECODE_OPTS" CONFIG...
#     CONFIG: base (no list) | S:W:G (per-token score, whole-phrase weight, gate; G=none for no gate)
#     DATA_DIR holds text and hotwords.txt (tools/bench/hotwords_real.py make-set)
#
# Example (docs/benchmarks/hotwords.md, third session):
#   R=egs/synth_en/asr
#   tools/bench/hotwords_cli_sweep.sh $R/exp/s3/new_ctc_bias10 $R/exp/bias_graph/graph_ctc_hw_data10 \
#       $R/data/bias_test10 $R/data10/lang_bpe300 /tmp/sweep "--acoustic-scale 3 --beam 12 --max-active 1000" \
#       base 3:0:none 5:0:none 8:0:none 8:0:-8
set -u
[ $# -ge 7 ] || { sed -n 2,14p "$0"; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$root/.venv/bin:$PATH" PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
post=$1 graph=$2 data=$3 tok=$4 out=$5 opts=$6
shift 6
mkdir -p "$out"

one() {
  local c=$1 d=$out/${1//:/_} s w g
  local hw=()
  if [ "$c" != base ]; then
    IFS=: read -r s w g <<< "$c"
    hw=(--hotwords "$data/hotwords.txt" --tokenizer "$tok" --hotword-score "$s" --hotword-weight "$w")
    [ "$g" != none ] && hw+=(--hotword-gate "$g")
  fi
  if [ ! -f "$d/text" ]; then
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=1 /usr/bin/time -f "%U %S %M" -o "$d.time" cifst decode "$graph" "$post/posteriors.scp" "$d" \
      --no-progress $opts "${hw[@]}" > "$d.log" 2>&1 || { echo "$c: decode failed, see $d.log"; return; }
  fi
  printf '%-12s %s cpu %s\n' "$c" "$(cifst score "$data/text" "$d/text" --hotwords "$data/hotwords.txt" |
    grep -E '^%(WER|HOTWORD|FA-UTT|B-WER|U-WER)' |
    awk '{printf "%s %s ", $1, ($1=="%HOTWORD" ? "R "$3" P "$10 : ($1=="%FA-UTT" ? $2" ("$4"/"$6")" : $2))}')" \
    "$(awk '{printf "%.1f s %.0f MB", $1 + $2, $3 / 1024}' "$d.time" 2>/dev/null)"
}

while [ $# -gt 0 ]; do
  one "$1" > "$out/.r1" &
  pid=$!
  if [ $# -gt 1 ]; then one "$2" > "$out/.r2"; fi
  wait $pid
  cat "$out/.r1"
  [ $# -gt 1 ] && { cat "$out/.r2"; shift; }
  shift
done
