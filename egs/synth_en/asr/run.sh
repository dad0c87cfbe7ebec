#!/usr/bin/env bash
# Synthetic English ASR, end to end: offline voices -> Paraformer (CIF) -> greedy / TLG / TLG+hotword decoding ->
# WER report. Every stage is rerunnable (finished work is skipped) and writes only under data/ and exp/.
#
#   bash run.sh                               # the small default demo (about 1 h of training audio)
#   bash run.sh --stage 0 --stop-stage 1 --hours 3     # just the 3-hour corpus
#
# Stages:
#   0  data: synthesize data/{train,dev,test_seen,test_unseen} (+ data/local: voices, LM text, reference ctm)
#   1  check the data dirs (cifst data validate) and list the vocabulary
#   2  tokenizer (cifst tokenizer train) and lexicon (CMU dict words -> tokens) in data/lang
#   3  train (cifst train)           4  average checkpoints (cifst average)
#   5  infer posteriors + greedy text (cifst infer)
#   6  n-gram LM (cifst lm build)    7  TLG graph (cifst graph build)
#   8  decode: greedy, TLG, TLG + generated hotword list (cifst decode)
#   9  score with HTML reports (cifst score) and print the headline figures
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=9
hours=1             # training audio to synthesize (dev/test scale with it)
nj=0                # synthesis processes, 0 = all cores
seed=0
augment=0.3         # share of train utterances with a sox effect (speed, noise, reverb, telephone)
force_data=false    # remake data/ even when a corpus is already there
device=auto         # cpu, cuda, cuda:1 ... (auto: cuda when present)
train_config=conf/train.yaml
tokenizer_kind=bpe
vocab_size=300
exp=exp/paraformer_tiny
avg_num=5
lm_order=3
lm_options="--discount_fallback"
beam=12
max_active=1000
hotword_weight=2.0
num_hotwords=40
eval_sets="dev test_seen test_unseen"
help_message="Usage: bash run.sh [options]   (stages are listed at the top of run.sh)"

# shellcheck disable=SC1091
. ./path.sh
# shellcheck disable=SC1091
. ./cmd.sh
# shellcheck disable=SC1091
. shared/stages.sh
# shellcheck disable=SC1091
. shared/parse_options.sh

check_number hours "$hours"
check_number stage "$stage"
check_number stop_stage "$stop_stage"
device_opt=()
[ "$device" != auto ] && device_opt=(--device "$device")

# Every external command this run will need, checked before any work starts.
tools=(python)
stage_on 0 && tools+=(espeak-ng sox)
if [ "$stop_stage" -ge 1 ] && [ "$stage" -le 9 ]; then tools+=(cifst); fi
require_tools "${tools[@]}"

lang=data/lang_${tokenizer_kind}${vocab_size}
graph=exp/graph_cif_${lm_order}gram
ckpt=avg_${avg_num}.pt

if stage_on 0; then
  log "stage 0: synthesize the corpus (--hours $hours)"
  if is_done data/train && [ "$force_data" != true ]; then
    log "data/ already holds a corpus ($(tr -d '\n ' < data/local/corpus_config.json | cut -c1-60)...): skipped;" \
      "pass --force-data true to remake it"
  else
    run_job synth data/log/synth.log nice -n 10 python -m asr.data.synth corpus --lang en --hours "$hours" \
      --jobs "$nj" --seed "$seed" --augment "$augment" data
  fi
fi

if stage_on 1; then
  log "stage 1: check the data directories"
  for x in train $eval_sets; do
    require_files "data/$x/wav.scp" "data/$x/text"
    if cifst data validate --help > /dev/null 2>&1; then cifst data validate "data/$x"; fi
  done
  # The decoding vocabulary: every word of the LM text and of the training transcripts.
  cut -d' ' -f2- data/train/text | cat - data/local/lm_text | tr ' ' '\n' | sed '/^$/d' | sort -u > data/local/words.txt
  log "vocabulary: $(wc -l < data/local/words.txt) words; train $(wc -l < data/train/text) utterances," \
    "$(awk '{s += $2} END {printf "%.2f", s / 3600}' data/train/utt2dur) h"
fi

if stage_on 2; then
  log "stage 2: tokenizer ($tokenizer_kind, $vocab_size) and lexicon in $lang"
  if [ ! -f "$lang/tokens.txt" ]; then
    cifst tokenizer train --kind "$tokenizer_kind" --vocab-size "$vocab_size" --kaldi-text data/train/text "$lang"
  fi
  if [ ! -f "$lang/lexicon.txt" ]; then
    python -m asr.data.synth lexicon data/local/words.txt "$lang" "$lang"
  fi
fi

if stage_on 3; then
  log "stage 3: train $exp with $train_config"
  if [ ! -f "$exp/final.pt" ]; then
    resume=()
    compgen -G "$exp/epoch_*.pt" > /dev/null && resume=(--resume)
    run_job train "$exp/log/train.log" cifst train --config "$train_config" --train-data data/train \
      --dev-data data/dev --tokenizer "$lang" "${resume[@]}" "${device_opt[@]}" "$exp"
  fi
fi

if stage_on 4; then
  log "stage 4: average the last $avg_num checkpoints"
  [ -f "$exp/$ckpt" ] || cifst average "$exp" --num "$avg_num"
fi

if stage_on 5; then
  for x in $eval_sets; do
    out=$exp/infer_${x}_${ckpt%.pt}
    if ! is_done "$out"; then
      log "stage 5: infer $x -> $out"
      run_job infer "$out/log/infer.log" cifst infer "$exp" "data/$x" "$out" --checkpoint "$ckpt" "${device_opt[@]}"
      mark_done "$out"
    fi
  done
fi

if stage_on 6; then
  log "stage 6: ${lm_order}-gram LM from data/local/lm_text (dev/test sentences excluded)"
  if [ ! -s "data/lm/${lm_order}gram.arpa" ]; then
    mkdir -p data/lm
    # shellcheck disable=SC2086
    cifst lm build -o "$lm_order" $lm_options < data/local/lm_text > "data/lm/${lm_order}gram.arpa.tmp"
    mv "data/lm/${lm_order}gram.arpa.tmp" "data/lm/${lm_order}gram.arpa"
  fi
fi

if stage_on 7; then
  log "stage 7: TLG graph $graph"
  [ -f "$graph/TLG.fst" ] || cifst graph build --tokens "$lang/tokens.txt" --lexicon "$lang/lexicon.txt" \
    --arpa "data/lm/${lm_order}gram.arpa" --topo cif "$graph"
fi

if stage_on 8; then
  for x in $eval_sets; do
    post=$exp/infer_${x}_${ckpt%.pt}
    [ -s "data/local/hotwords_$x.txt" ] || python -m asr.data.synth hotwords "data/$x/text" data/local/lm_text \
      "data/local/hotwords_$x.txt" --num "$num_hotwords" --seed "$seed"
    mkdir -p "$exp/decode_greedy_$x"
    cp "$post/text" "$exp/decode_greedy_$x/text"
    if ! is_done "$exp/decode_tlg_$x"; then
      log "stage 8: TLG decode $x"
      run_job decode "$exp/decode_tlg_$x/log/decode.log" cifst decode "$graph" "$post/posteriors.scp" \
        "$exp/decode_tlg_$x" --beam "$beam" --max-active "$max_active" "${device_opt[@]}"
      mark_done "$exp/decode_tlg_$x"
    fi
    if ! is_done "$exp/decode_tlg_hotwords_$x"; then
      log "stage 8: TLG + hotwords decode $x"
      run_job decode "$exp/decode_tlg_hotwords_$x/log/decode.log" cifst decode "$graph" "$post/posteriors.scp" \
        "$exp/decode_tlg_hotwords_$x" --beam "$beam" --max-active "$max_active" \
        --hotwords "data/local/hotwords_$x.txt" --hotword-weight "$hotword_weight" "${device_opt[@]}"
      mark_done "$exp/decode_tlg_hotwords_$x"
    fi
  done
fi

if stage_on 9; then
  log "stage 9: score"
  summary=$exp/RESULTS.txt
  : > "$summary.tmp"
  for x in $eval_sets; do
    for kind in greedy tlg tlg_hotwords; do
      dir=$exp/decode_${kind}_$x
      [ -f "$dir/text" ] || continue
      hw=()
      [ "$kind" = tlg_hotwords ] && hw=(--hotwords "data/local/hotwords_$x.txt")
      line=$(cifst score "data/$x/text" "$dir/text" --mode wer --out "$dir/report" --utt2spk "data/$x/utt2spk" \
        "${hw[@]}" | grep '^%WER')
      printf '%-12s %-13s %s\n' "$x" "$kind" "$line" >> "$summary.tmp"
    done
  done
  mv "$summary.tmp" "$summary"
  log "WER summary ($summary):"
  cat "$summary"
  log "HTML reports: $(ls "$PWD"/$exp/decode_*_test_unseen/report/report.html 2>/dev/null | head -3 | tr '\n' ' ')"
  log "all reports: $PWD/$exp/decode_*/report/"
fi
