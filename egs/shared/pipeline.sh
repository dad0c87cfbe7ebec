#!/usr/bin/env bash
# The stages every cifst ASR recipe shares, from checked data dirs to the WER report (stage 0, making the data, is
# the recipe's own). Sourced by run.sh after it has set its options and sourced path.sh, cmd.sh, stages.sh and
# parse_options.sh; `run_pipeline` then runs the stages in [$stage, $stop_stage]:
#   1  check the data dirs (cifst data validate), list the decoding vocabulary ($lm_text + train transcripts)
#   2  tokenizer (cifst tokenizer train) + lexicon (python -m asr.data.synth lexicon) in $lang
#   3  train (cifst train)                        4  average the last $avg_num epochs (cifst average)
#      (with checkpoint=ema stages 4-9 use $exp/ema.pt, the weight EMA a config with train.ema_decay writes, and
#      checkpoint=FILE any checkpoint in $exp; their infer/decode dirs and RESULTS file carry its name)
#   5  posteriors + greedy text (cifst infer), for each output head in $heads
#   6  n-gram LM on $lm_text (cifst lm build)
#   7  TLG graph per head (cifst graph build: --topo cif for the CIF decoder's rows, --topo ctc for the CTC head's)
#   8  decode each eval set and head: greedy (--no-graph), TLG, TLG + hotwords (cifst decode)
#   9  score (cifst score --out: wer, details, per speaker, errors by training count, report.html; cifst score-times
#      against data/<set>/ctm when the corpus has reference word times), summary in $exp/RESULTS.txt
# Variables it reads: train_set dev_set eval_sets lm_text tokenizer_kind vocab_size train_config exp avg_num lm_order
# checkpoint lm_options graph_options beam max_active hotword_score num_hotwords score_mode device seed train_threads
# lexicon_cmu
# (train_procs > 1 trains with that many DDP processes of one thread each instead of one process of train_threads;
# precompute_fbank=true first stores the fbank of the train and dev sets in feats.scp, as Kaldi's make_fbank.sh;
# trim_silence=true trains on data/<train_set>_trim, the training set with each utterance's leading and trailing
# silence cut from its stored fbank by cifst data trim; phone_lexicon=FILE, a `word PH1 PH2 ...` lexicon such as
# stage 2's $lang/lexicon_phones_nostress.txt, is the pronunciation lexicon of a config with
# model.interctc_phone_layers)
# (and acoustic_scale for the TLG decodes, default 1.0; heads, default "cif": "cif ctc" also decodes the encoder's
# CTC head, whose systems are named greedy_ctc, tlg_ctc, tlg_hotwords_ctc and use ctc_acoustic_scale and
# ctc_hotword_score, defaults acoustic_scale and hotword_score).
# Every stage skips finished work, so a rerun after a failure or a kill continues where it stopped.

# output head -> suffix of its infer/decode directories: the CIF decoder keeps the plain names
head_suffix() {
  if [ "$1" = cif ]; then echo ""; else echo "_$1"; fi
}

run_pipeline() {
  local device_opt=()
  [ "$device" != auto ] && device_opt=(--device "$device")
  lang=data/lang_${tokenizer_kind}${vocab_size}
  case "${checkpoint:-avg}" in
    avg) ckpt=avg_${avg_num}.pt ;;
    ema) ckpt=ema.pt ;;
    *) ckpt=$checkpoint ;;
  esac
  # decode dirs and the RESULTS file of a checkpoint other than the average carry its name (infer dirs always do)
  local ctag=""
  [ "${checkpoint:-avg}" = avg ] || ctag=_${ckpt%.pt}
  local x post out dir kind line head sfx graph ascale hscore
  local heads_list=${heads:-cif}

  if stage_on 1; then
    log "stage 1: check the data directories"
    for x in $(echo "$train_set $dev_set $eval_sets" | tr ' ' '\n' | awk 'NF && !seen[$0]++'); do
      require_files "data/$x/wav.scp" "data/$x/text"
      cifst data validate "data/$x"
    done
    require_files "$lm_text"
    cut -d' ' -f2- "data/$train_set/text" | cat - "$lm_text" | tr ' ' '\n' | sed '/^$/d' | sort -u \
      > data/local/words.txt
    log "vocabulary: $(wc -l < data/local/words.txt) words; $train_set: $(wc -l < "data/$train_set/text")" \
      "utterances$( [ -f "data/$train_set/utt2dur" ] && awk '{s += $2} END {printf ", %.2f h", s / 3600}' \
      "data/$train_set/utt2dur")"
  fi

  if stage_on 2; then
    log "stage 2: tokenizer ($tokenizer_kind, $vocab_size) and lexicon in $lang"
    if [ ! -f "$lang/tokens.txt" ]; then
      cifst tokenizer train --kind "$tokenizer_kind" --vocab-size "$vocab_size" --kaldi-text \
        "data/$train_set/text" "$lang"
    fi
    if [ ! -f "$lang/lexicon.txt" ]; then
      local cmu_opt=()
      [ "$lexicon_cmu" = true ] || cmu_opt=(--no-cmu)
      python -m asr.data.synth lexicon data/local/words.txt "$lang" "$lang" "${cmu_opt[@]}"
    fi
  fi

  if stage_on 3; then
    log "stage 3: train $exp with $train_config"
    if [ ! -f "$exp/final.pt" ]; then
      if [ "${precompute_fbank:-false}" = true ]; then
        # the fbank options of the training config; reruns resume (or start over when the options changed)
        for x in "$train_set" "$dev_set"; do
          log "stage 3: fbank of data/$x -> data/$x/feats.scp"
          run_job "fbank_$x" "data/log/fbank_$x.log" cifst data fbank --config "$train_config" --jobs "$(nproc)" \
            --no-progress "data/$x"
        done
      fi
      local train_dir=data/$train_set
      if [ "${trim_silence:-false}" = true ]; then
        # train on a copy whose utterances lose their leading and trailing silence (trim.json is written last)
        train_dir=data/${train_set}_trim
        if [ ! -f "$train_dir/trim.json" ]; then
          if [ ! -f "data/$train_set/feats.scp" ]; then
            log "stage 3: trim_silence=true needs data/$train_set/feats.scp: add --precompute-fbank true"
            exit 1
          fi
          log "stage 3: cut leading and trailing silence: data/$train_set -> $train_dir"
          run_job trim "data/log/trim_$train_set.log" cifst data trim --no-progress "data/$train_set" "$train_dir"
        fi
      fi
      local resume=()
      [ -f "$exp/checkpoint.pt" ] && resume=(--resume)
      local train_cmd=(cifst train) threads=$train_threads
      if [ "${train_procs:-1}" -gt 1 ]; then
        # DDP: one process per core (gloo on CPU) beats intra-op threads for a tiny model
        train_cmd=(python -m torch.distributed.run --standalone --nproc_per_node "$train_procs" -m asr.cli train)
        threads=1
      fi
      local phones=()
      if [ -n "${phone_lexicon:-}" ]; then
        require_files "$phone_lexicon"
        phones=(--phone-lexicon "$phone_lexicon")
      fi
      OMP_NUM_THREADS=$threads run_job train "$exp/log/train.log" "${train_cmd[@]}" --config "$train_config" \
        --train-data "$train_dir" --dev-data "data/${dev_set}" --tokenizer "$lang" "${resume[@]}" \
        "${phones[@]}" "${device_opt[@]}" --no-progress "$exp"
    fi
  fi

  if stage_on 4; then
    if [ "${checkpoint:-avg}" = avg ]; then
      log "stage 4: average the last $avg_num checkpoints"
      [ -f "$exp/$ckpt" ] || cifst average "$exp" --num "$avg_num"
    elif [ ! -f "$exp/$ckpt" ]; then
      if [ "$ckpt" = ema.pt ]; then
        die "missing $exp/ema.pt: --checkpoint ema needs a model trained with train.ema_decay > 0 in its config"
      fi
      die "missing $exp/$ckpt (--checkpoint $checkpoint)"
    fi
  fi

  if stage_on 5; then
    for head in $heads_list; do
      sfx=$(head_suffix "$head")
      for x in $eval_sets; do
        out=$exp/infer_${x}_${ckpt%.pt}$sfx
        if ! is_done "$out"; then
          log "stage 5: infer $x ($head head) -> $out"
          OMP_NUM_THREADS=$train_threads run_job infer "$out/log/infer.log" cifst infer "$exp" "data/$x" "$out" \
            --checkpoint "$ckpt" --head "$head" "${device_opt[@]}"
          mark_done "$out"
        fi
      done
    done
  fi

  if stage_on 6; then
    log "stage 6: ${lm_order}-gram LM from $lm_text"
    if [ ! -s "data/lm/${lm_order}gram.arpa" ]; then
      mkdir -p data/lm
      # shellcheck disable=SC2086
      cifst lm build -o "$lm_order" $lm_options < "$lm_text" > "data/lm/${lm_order}gram.arpa.tmp"
      mv "data/lm/${lm_order}gram.arpa.tmp" "data/lm/${lm_order}gram.arpa"
    fi
  fi

  if stage_on 7; then
    for head in $heads_list; do
      graph=exp/graph_${lang##*/}_${head}_${lm_order}gram
      log "stage 7: TLG graph $graph"
      # lmplz-style ARPAs always hold <unk>; the lexicon has no pronunciation for it, so its n-grams are dropped
      # shellcheck disable=SC2086
      [ -f "$graph/TLG.pt" ] || cifst graph build --tokens "$lang/tokens.txt" --lexicon "$lang/lexicon.txt" \
        --arpa "data/lm/${lm_order}gram.arpa" --topo "$head" ${graph_options---oov skip} "$graph"
    done
  fi

  if stage_on 8; then
    for x in $eval_sets; do
      [ -s "data/local/hotwords_$x.txt" ] || python -m asr.data.synth hotwords "data/$x/text" "$lm_text" \
        "data/local/hotwords_$x.txt" --num "$num_hotwords" --seed "$seed"
      for head in $heads_list; do
        sfx=$(head_suffix "$head")
        post=$exp/infer_${x}_${ckpt%.pt}$sfx
        graph=exp/graph_${lang##*/}_${head}_${lm_order}gram
        ascale=${acoustic_scale:-1.0}
        hscore=$hotword_score
        if [ "$head" = ctc ]; then
          ascale=${ctc_acoustic_scale:-$ascale}
          hscore=${ctc_hotword_score:-$hscore}
        fi
        require_files "$post/posteriors.scp"
        if ! is_done "$exp/decode_greedy${sfx}${ctag}_$x"; then
          log "stage 8: greedy decode $x, $head head (no graph)"
          run_job decode "$exp/decode_greedy${sfx}${ctag}_$x/log/decode.log" cifst decode --no-graph \
            "$post/posteriors.scp" "$exp/decode_greedy${sfx}${ctag}_$x" --no-progress "${device_opt[@]}"
          mark_done "$exp/decode_greedy${sfx}${ctag}_$x"
        fi
        if ! is_done "$exp/decode_tlg${sfx}${ctag}_$x"; then
          log "stage 8: TLG decode $x, $head head"
          run_job decode "$exp/decode_tlg${sfx}${ctag}_$x/log/decode.log" cifst decode "$graph" \
            "$post/posteriors.scp" "$exp/decode_tlg${sfx}${ctag}_$x" --beam "$beam" --max-active "$max_active" \
            --acoustic-scale "$ascale" --no-progress "${device_opt[@]}"
          mark_done "$exp/decode_tlg${sfx}${ctag}_$x"
        fi
        if ! is_done "$exp/decode_tlg_hotwords${sfx}${ctag}_$x"; then
          log "stage 8: TLG + hotwords decode $x, $head head"
          run_job decode "$exp/decode_tlg_hotwords${sfx}${ctag}_$x/log/decode.log" cifst decode "$graph" \
            "$post/posteriors.scp" "$exp/decode_tlg_hotwords${sfx}${ctag}_$x" --beam "$beam" \
            --max-active "$max_active" --acoustic-scale "$ascale" --no-progress \
            --hotwords "data/local/hotwords_$x.txt" --hotword-score "$hscore" --tokenizer "$lang" --hotwords-skip-bad "${device_opt[@]}"
          mark_done "$exp/decode_tlg_hotwords${sfx}${ctag}_$x"
        fi
      done
    done
  fi

  if stage_on 9; then
    log "stage 9: score"
    local summary=$exp/RESULTS${ctag}.txt train_text=()
    [ -f "data/$train_set/text" ] && train_text=(--train-text "data/$train_set/text")
    : > "$summary.tmp"
    for x in $eval_sets; do
      for head in $heads_list; do
        sfx=$(head_suffix "$head")
        for kind in "greedy$sfx" "tlg$sfx" "tlg_hotwords$sfx"; do
          dir=$exp/decode_${kind}${ctag}_$x
          [ -f "$dir/text" ] || continue
          # every system is scored with the hotword list, so recall with and without biasing can be compared,
          # and by the training count of each reference word (report/frequency.txt: OOV and rare-word errors)
          line=$(cifst score "data/$x/text" "$dir/text" --mode "$score_mode" --out "$dir/report" \
            --utt2spk "data/$x/utt2spk" --hotwords "data/local/hotwords_$x.txt" "${train_text[@]}" \
            | grep -E '^%(WER|CER)')
          printf '%-12s %-17s %s\n' "$x" "$kind" "$line" >> "$summary.tmp"
          # word-time accuracy against the reference ctm (the synthetic recipes have one from the voices)
          if [ -f "data/$x/ctm" ] && [ -s "$dir/ctm" ]; then
            cifst score-times "data/$x/ctm" "$dir/ctm" > "$dir/report/times.txt"
            printf '%-12s %-17s %s\n' "$x" "$kind" "$(grep -m1 -i 'AAS' "$dir/report/times.txt")" >> "$summary.tmp"
          fi
        done
      done
    done
    mv "$summary.tmp" "$summary"
    log "results ($PWD/$summary):"
    cat "$summary" >&2
    for x in $eval_sets; do
      [ -f "$exp/decode_tlg_hotwords${ctag}_$x/report/report.html" ] && \
        log "report for $x: $PWD/$exp/decode_tlg_hotwords${ctag}_$x/report/report.html"
    done
    log "all reports: $PWD/$exp/decode_*/report/ (wer, details.txt, speakers.txt, summary.json, report.html)"
  fi
  return 0
}
