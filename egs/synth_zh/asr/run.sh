#!/usr/bin/env bash
# Synthetic Mandarin ASR, end to end: fortunes-zh text -> pypinyin -> espeak-ng cmn-latn-pinyin voices ->
# Paraformer (CIF) on character tokens -> greedy / TLG (character LM) / TLG+hotword decoding -> CER report.
# Every stage is rerunnable (finished work is skipped) and writes only under data/ and exp/.
#
#   bash run.sh                                         # the small default
#   bash run.sh --stage 0 --stop-stage 1 --hours 3      # just a 3-hour corpus
#
# Stages:
#   0  data: synthesize data/{train,dev,test_seen,test_unseen} (transcripts: characters separated by spaces, so
#      the "words" of the LM and lexicon are characters), plus data/local (voices, LM text, reference ctm)
#   1-9  shared/pipeline.sh: check data, tokenizer + lexicon, train, average, infer, LM, TLG, decode, score
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=9
hours=1             # training audio to synthesize (dev/test scale with it)
nj=0                # synthesis processes, 0 = all cores
seed=0
augment=0.3         # share of train utterances with a sox effect (speed, noise, reverb, telephone)
min_chars=4         # sentence length bounds, in characters
max_chars=20
text=               # text files to read instead of the default sources (space-separated list)
force_data=false    # remake data/ even when a corpus is already there
device=auto         # cpu, cuda, cuda:1 ... (auto: cuda when present)
train_threads=$(nproc)
precompute_fbank=false  # stage 3: store the train/dev fbank in feats.scp first (cifst data fbank)
trim_silence=false  # stage 3: train on data/<train_set>_trim, leading/trailing silence cut (cifst data trim; needs feats.scp)
phone_lexicon=     # stage 3: pronunciation lexicon for a config with model.interctc_phone_layers (e.g. data/lang_bpe2000/lexicon_phones_nostress.txt)
train_set=train
dev_set=dev
eval_sets="test_seen test_unseen"
lm_text=data/local/lm_text
train_config=conf/train.yaml
tokenizer_kind=char
vocab_size=0        # 0: every character of the training text
lexicon_cmu=false
exp=exp/paraformer_tiny
avg_num=3
checkpoint=avg      # checkpoint to decode: avg (avg_$avg_num.pt), ema (ema.pt, from train.ema_decay) or a file in $exp
lm_order=4
lm_options="--discount_fallback --prune 0 1"  # drop singleton 2/3-grams: a 2M-arc graph instead of 16M
beam=12
max_active=1000
hotword_score=1.5   # bonus per matched hotword token (natural log)
num_hotwords=40
score_mode=cer
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
check_number stage "$stage"
check_number stop_stage "$stop_stage"
# Every external command this run needs, checked before any work starts.
tools=(python)
stage_on 0 && tools+=(espeak-ng sox)
[ "$stop_stage" -ge 1 ] && tools+=(cifst)
require_tools "${tools[@]}"

if stage_on 0; then
  log "stage 0: synthesize the corpus (--hours $hours)"
  if is_done data/train && [ "$force_data" != true ]; then
    log "data/ already holds a corpus ($(tr -d '\n ' < data/local/corpus_config.json | cut -c1-40)...): kept;" \
      "pass --force-data true to remake it"
  else
    text_opts=()
    for f in $text; do text_opts+=(--text "$f"); done
    run_job synth data/log/synth.log nice -n 10 python -m asr.data.synth corpus --lang zh --hours "$hours" \
      --jobs "$nj" --seed "$seed" --augment "$augment" --min-words "$min_chars" --max-words "$max_chars" \
      "${text_opts[@]}" data
  fi
fi

run_pipeline
