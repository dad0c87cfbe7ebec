#!/usr/bin/env bash
# Stage helpers shared by every cifst recipe (sourced by run.sh after parse_options.sh).
#
#   log MESSAGE...                 timestamped message on stderr
#   die MESSAGE...                 log and exit 1
#   stage_on N                     true when stage <= N <= stop_stage ($stage, $stop_stage from run.sh)
#   require_tools CMD...           fail before any work if a command is missing, naming it and how to install it
#   require_files FILE...          fail naming the first missing file and the stage that makes it
#   is_done DIR | mark_done DIR    a `.done` stamp: reruns skip finished work
#   check_number NAME VALUE        fail unless VALUE is a non-negative number

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') ($(basename "$0")) $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

stage_on() {
  [ "$1" -ge "$stage" ] && [ "$1" -le "$stop_stage" ]
}

_tool_hint() {
  case "$1" in
    cifst|python) echo "run 'bash tools/install.sh' at the repository root, then source path.sh" ;;
    lmplz|build_binary) echo "run 'bash tools/build_kenlm.sh' (kenlm) at the repository root" ;;
    espeak-ng|sox|flite|pico2wave|text2wave|mbrola) echo "apt-get install $1 (tools/install.sh installs it)" ;;
    sbatch|srun) echo "use the local backend: CIFST_CMD_BACKEND=local" ;;
    *) echo "install $1" ;;
  esac
}

require_tools() {
  local t missing=0
  for t in "$@"; do
    if ! command -v "$t" > /dev/null 2>&1; then
      log "ERROR: required command '$t' not found: $(_tool_hint "$t")"
      missing=1
    fi
  done
  [ "$missing" -eq 0 ] || exit 1
}

require_files() {
  local f
  for f in "$@"; do
    [ -e "$f" ] || die "missing $f: run the stage that makes it first (see --help for the stage list)"
  done
}

is_done() { [ -f "$1/.done" ]; }
mark_done() { mkdir -p "$1" && date '+%Y-%m-%d %H:%M:%S' > "$1/.done"; }

check_number() {
  [[ "$2" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--${1//_/-} must be a non-negative number, got '$2'"
}
