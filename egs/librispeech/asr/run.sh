#!/usr/bin/env bash
# LibriSpeech (English read speech, up to 960 h): Paraformer (CIF) on BPE tokens, word n-gram LM, TLG decoding with
# and without hotwords, WER reports on dev/test clean/other. For users who have the corpus (openslr.org/12, and
# optionally the LM corpus of openslr.org/11); nothing is downloaded. Every stage is rerunnable and writes only
# under data/ and exp/.
#
#   bash run.sh --corpus /data/LibriSpeech                                   # all parts present
#   bash run.sh --corpus /data/LibriSpeech --train-parts train-clean-100     # the 100-hour setup
#   bash run.sh --corpus /data/LibriSpeech --lm-corpus /data/librispeech-lm-norm.txt.gz --lm-order 4
#
# Stages:
#   0  data: local/prepare_data.py -> data/<part> for each part, data/train (the --train-parts), data/local/lm_text
#   1-9  shared/pipeline.sh: check data, tokenizer + lexicon, train, average, infer, LM, TLG, decode, score
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=9
corpus=             # the LibriSpeech directory
train_parts="train-clean-100 train-clean-360 train-other-500"
lm_corpus=          # librispeech-lm-norm.txt.gz (openslr 11); empty: the training transcripts
device=auto
train_threads=$(nproc)
precompute_fbank=false  # stage 3: store the train/dev fbank in feats.scp first (cifst data fbank)
trim_silence=false  # stage 3: train on data/<train_set>_trim, leading/trailing silence cut (cifst data trim; needs feats.scp)
phone_lexicon=     # stage 3: pronunciation lexicon for a config with model.interctc_phone_layers (e.g. data/lang_bpe2000/lexicon_phones_nostress.txt)
seed=0
train_set=train
dev_set=dev_clean
eval_sets="dev_clean dev_other test_clean test_other"
lm_text=data/local/lm_text
train_config=conf/train.yaml
tokenizer_kind=bpe
vocab_size=5000
lexicon_cmu=true
exp=exp/paraformer_large
avg_num=10
checkpoint=avg      # checkpoint to decode: avg (avg_$avg_num.pt), ema (ema.pt, from train.ema_decay) or a file in $exp
lm_order=3
lm_options="--prune 0 1 1"
beam=16
max_active=7000
hotword_score=1.5
num_hotwords=100
score_mode=wer
help_message="Usage: bash run.sh --corpus LIBRISPEECH_DIR [options]"

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

require_tools python cifst

if stage_on 0; then
  log "stage 0: LibriSpeech data preparation from '$corpus'"
  if is_done data/train; then
    log "data/train already prepared: kept"
  else
    [ -n "$corpus" ] || die "--corpus DIR is required for stage 0 (the LibriSpeech directory)"
    lm_opt=()
    [ -n "$lm_corpus" ] && lm_opt=(--lm-corpus "$lm_corpus")
    # shellcheck disable=SC2086
    python local/prepare_data.py "$corpus" data --train-parts $train_parts "${lm_opt[@]}"
    mark_done data/train
  fi
fi

run_pipeline
