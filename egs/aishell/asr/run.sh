#!/usr/bin/env bash
# AISHELL-1 (Mandarin, 178 h, 400 speakers): Paraformer (CIF) on character tokens, character n-gram LM, TLG
# decoding with and without hotwords, CER reports. For users who have the corpus (openslr.org/33); nothing is
# downloaded. Every stage is rerunnable and writes only under data/ and exp/.
#
#   bash run.sh --corpus /data/aishell/data_aishell
#   bash run.sh --corpus /data/aishell/data_aishell --stage 3 --device cuda
#
# Stages:
#   0  data: local/prepare_data.py CORPUS -> data/{train,dev,test} (+ data/local/lm_text: train transcripts)
#   1-9  shared/pipeline.sh: check data, tokenizer + lexicon, train, average, infer, LM, TLG, decode, score
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=9
corpus=             # the data_aishell directory (transcript/ and wav/)
text_unit=char      # char: one character per LM "word"; word: the corpus's segmentation
device=auto
train_threads=$(nproc)
precompute_fbank=false  # stage 3: store the train/dev fbank in feats.scp first (cifst data fbank)
trim_silence=false  # stage 3: train on data/<train_set>_trim, leading/trailing silence cut (cifst data trim; needs feats.scp)
phone_lexicon=     # stage 3: pronunciation lexicon for a config with model.interctc_phone_layers (e.g. data/lang_bpe2000/lexicon_phones_nostress.txt)
seed=0
train_set=train
dev_set=dev
eval_sets="dev test"
lm_text=data/local/lm_text
train_config=conf/train.yaml
tokenizer_kind=char
vocab_size=0
lexicon_cmu=false
exp=exp/paraformer_small
avg_num=10
checkpoint=avg      # checkpoint to decode: avg (avg_$avg_num.pt), ema (ema.pt, from train.ema_decay) or a file in $exp
lm_order=5
lm_options=""
beam=16
max_active=7000
hotword_score=1.5
num_hotwords=100
score_mode=cer
help_message="Usage: bash run.sh --corpus DATA_AISHELL_DIR [options]"

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
  log "stage 0: AISHELL-1 data preparation from '$corpus'"
  if is_done data/train; then
    log "data/train already prepared: kept"
  else
    [ -n "$corpus" ] || die "--corpus DIR is required for stage 0 (the data_aishell directory)"
    python local/prepare_data.py "$corpus" data --unit "$text_unit"
    mark_done data/train
  fi
fi

run_pipeline
