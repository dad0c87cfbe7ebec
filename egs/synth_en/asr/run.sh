#!/usr/bin/env bash
# Synthetic English ASR, end to end: offline voices -> Paraformer (CIF) -> greedy / TLG / TLG+hotword decoding ->
# WER report. Every stage is rerunnable (finished work is skipped) and writes only under data/ and exp/.
#
#   bash run.sh                                         # the small default demo (2 h of audio, 15 epochs)
#   bash run.sh --stage 0 --stop-stage 1 --hours 3      # just a 3-hour corpus
#   bash run.sh --stage 3 --train-config conf/train_small.yaml --exp exp/paraformer_small
#   bash run.sh --hours 10 --seed 1 --extra-text-sources wordnet --extra-hours 20 --train-procs 2 \
#       --train-config conf/train_1h_wordnet.yaml --exp exp/paraformer_tiny_1h     # a one-hour model (33 h)
#   bash run.sh --hours 10 --seed 1 --extra-text-sources "wordnet wordnet-glosses" --extra-hours "20 21" \
#       --extra-tag "wn gl" --vocab-size 2000 --train-procs 2 --train-config conf/train_1h_glosses.yaml \
#       --exp exp/paraformer_tiny_1h_58h                                            # the best one so far (~58 h)
#
# Stages:
#   0  data: synthesize data/{train,dev,test_seen,test_unseen} with many offline voices, plus data/local (voice
#      table, LM text without the dev/test sentences, reference ctm in each data dir); with --extra-text-sources
#      more corpora of other text (data/extra_TAG) join data/train and the LM text
#   1-9  shared/pipeline.sh: check data, tokenizer + lexicon, train, average, infer, LM, TLG, decode, score
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=9
hours=2             # training audio to synthesize (dev/test scale with it)
nj=0                # synthesis processes, 0 = all cores
seed=0
augment=0.3         # share of train utterances with a sox effect (speed, noise, reverb, telephone)
text_sources=fortunes,licenses  # Debian text to read: fortunes, licenses, wordnet, wordnet-glosses (apt wordnet-base)
text=               # text files to read instead of those sources (space-separated list)
extra_text_sources= # more training speech from other text: one corpus per space-separated entry joins data/train
                    # (each entry: comma-separated sources, e.g. "wordnet wordnet-glosses")
extra_hours=20      # hours of each extra corpus, one per entry ("20 25")
extra_tag=wn        # suffix of each extra corpus's utterance keys, one per entry ("wn gl"): corpora number from 0
force_data=false    # remake data/ even when a corpus is already there
device=auto         # cpu, cuda, cuda:1 ... (auto: cuda when present)
train_threads=$(nproc)
train_procs=1       # >1: DDP training with that many one-thread processes (the one-hour model uses 2)
precompute_fbank=false  # stage 3: store the train/dev fbank in feats.scp first (cifst data fbank)
trim_silence=false  # stage 3: train on data/<train_set>_trim, leading/trailing silence cut (cifst data trim; needs feats.scp)
phone_lexicon=     # stage 3: pronunciation lexicon for a config with model.interctc_phone_layers (e.g. data/lang_bpe2000/lexicon_phones_nostress.txt)
train_set=train
dev_set=dev
eval_sets="test_seen test_unseen"
lm_text=data/local/lm_text
train_config=conf/train.yaml
tokenizer_kind=bpe
vocab_size=300
lexicon_cmu=true
exp=exp/paraformer_tiny
avg_num=3
checkpoint=avg      # checkpoint to decode: avg (avg_$avg_num.pt), ema (ema.pt, from train.ema_decay) or a file in $exp
lm_order=3
lm_options="--discount_fallback --prune 0 1"  # drop singleton 2/3-grams: a 2M-arc graph instead of 16M
beam=12
acoustic_scale=2.0  # TLG decodes: tuned on dev of the 11-hour corpus with the one-hour model (47.1% vs 49.7% at 1.0)
max_active=1000
heads="cif ctc"     # output heads to decode: the Paraformer decoder (CIF slots) and the encoder's CTC head (frames)
ctc_acoustic_scale=3.0  # TLG decodes of the CTC head: tuned on dev of the 11-hour corpus (31.1% vs 31.3% at 2.0 and 4.0)
hotword_score=1.5   # bonus per matched hotword token (natural log)
ctc_hotword_score=6.0  # the same for the CTC head at acoustic scale 3 (chosen on the dev bias set: B-WER halved, no false alarm up to 6; docs/benchmarks/hotwords.md)
num_hotwords=40
score_mode=wer
help_message="Usage: bash run.sh [options]   (stages are listed at the top of run.sh)"

# shellcheck disable=SC1091
. ./path.sh
# shellcheck disable=SC1091
. ./cmd.sh
# shellcheck disable=SC1091
. shared/stages.sh
# shellcheck disable=SC1091
. shared/parse_options.sh
# shellcheck disable=SC1091
. shared/pipeline.sh

check_number hours "$hours"
# --extra-text-sources "wordnet wordnet-glosses" --extra-hours "20 25" --extra-tag "wn gl": one corpus per entry
read -ra x_sources <<< "$extra_text_sources"
read -ra x_hours <<< "$extra_hours"
read -ra x_tags <<< "$extra_tag"
if [ ${#x_sources[@]} -gt 0 ] && { [ ${#x_hours[@]} -ne ${#x_sources[@]} ] || [ ${#x_tags[@]} -ne ${#x_sources[@]} ]; }; then
  die "give one --extra-hours and one --extra-tag per --extra-text-sources entry (got ${#x_sources[@]} sources," \
    "${#x_hours[@]} hours, ${#x_tags[@]} tags)"
fi
for h in "${x_hours[@]}"; do check_number extra_hours "$h"; done
check_number stage "$stage"
check_number stop_stage "$stop_stage"
# Every external command this run needs, checked before any work starts.
tools=(python)
stage_on 0 && tools+=(espeak-ng sox)
{ [ "$stop_stage" -ge 1 ] || [ -n "$extra_text_sources" ]; } && tools+=(cifst)
require_tools "${tools[@]}"

if stage_on 0; then
  log "stage 0: synthesize the corpus (--hours $hours)"
  if is_done data/train && [ "$force_data" != true ]; then
    log "data/ already holds a corpus ($(tr -d '\n ' < data/local/corpus_config.json | cut -c1-40)...): kept;" \
      "pass --force-data true to remake it"
  else
    text_opts=()
    for f in $text; do text_opts+=(--text "$f"); done
    rm -rf data/train_base data/local/extra_tags data/local/lm_text_base  # extras join the new corpus afresh
    run_job synth data/log/synth.log nice -n 10 python -m asr.data.synth corpus --lang en --hours "$hours" \
      --jobs "$nj" --seed "$seed" --augment "$augment" \
      --text-sources "$text_sources" "${text_opts[@]}" data
  fi
  if [ -n "$extra_text_sources" ]; then
    # the one-hour models' corpora: the same voices read more text (one corpus per --extra-text-sources entry),
    # for training only
    for i in "${!x_sources[@]}"; do
      src=${x_sources[$i]} xdir=data/extra_${x_tags[$i]}
      is_done "$xdir" && continue
      log "stage 0: ${x_hours[$i]} more hours of training speech from $src -> $xdir"
      run_job "synth_extra_${x_tags[$i]}" "data/log/synth_extra_${x_tags[$i]}.log" nice -n 10 python -m asr.data.synth \
        corpus --lang en --hours "${x_hours[$i]}" --jobs "$nj" --seed "$seed" --augment "$augment" \
        --text-sources "$src" --max-eval-utts 20 "$xdir"
      # a sentence dev or test reads must not be trained on: drop its utterances from the extra corpus
      cut -d' ' -f2- data/dev/text data/test_seen/text | sort -u > "$xdir/heldout_sentences"
      awk 'NR == FNR { held[$0] = 1; next } { k = $1; sub(/^[^ ]+ ?/, ""); if (!held[$0]) print k " " $0 }' \
        "$xdir/heldout_sentences" "$xdir/train/text" > "$xdir/train/text.kept"
      mv "$xdir/train/text.kept" "$xdir/train/text"
      cifst data fix --no-backup "$xdir/train"
      mark_done "$xdir"
    done
    # data/train = the first corpus (kept in data/train_base) + every extra corpus, remade when the list changes
    if [ "$(cat data/local/extra_tags 2>/dev/null)" != "${x_tags[*]}" ]; then
      [ -d data/train_base ] || mv data/train data/train_base
      [ -f data/local/lm_text_base ] || cp data/local/lm_text data/local/lm_text_base
      rm -rf data/train
      parts=() extra_text=()
      for tag in "${x_tags[@]}"; do
        parts+=("data/extra_$tag/train:$tag")
        extra_text+=("data/extra_$tag/train/text")
      done
      cifst data combine data/train data/train_base "${parts[@]}"
      cut -d' ' -f2- "${extra_text[@]}" | cat data/local/lm_text_base - | awk '!seen[$0]++' > data/local/lm_text.new
      mv data/local/lm_text.new data/local/lm_text
      echo "${x_tags[*]}" > data/local/extra_tags
      mark_done data/train
    fi
  fi
fi

run_pipeline
