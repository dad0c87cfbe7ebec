#!/usr/bin/env bash
# Kaldi-style option parsing for recipe scripts, written for cifst.
#
# Source it after defining defaults:   stage=0; hours=3; . shared/parse_options.sh
# Every `--some-name VALUE` or `--some-name=VALUE` sets the already-defined shell variable `some_name`; an option
# whose variable is not defined is an error naming the option, and so is a missing value. `--help` / `-h` prints
# "$help_message" (if the script set one) followed by the options and their current defaults, then exits 0.
# Boolean variables (default true/false) accept only true or false. `--config FILE` sources FILE (key=value lines)
# before the later options, so the command line still wins. Positional arguments are left in "$@".

_po_script=$(basename "$0")

_po_print_help() {
  [ -n "${help_message:-}" ] && printf '%s\n\n' "$help_message"
  echo "Options (current values):"
  local v
  for v in ${_po_vars:-}; do
    printf '  --%-22s %s\n' "${v//_/-}" "${!v}"
  done
}

# Variables the script declared before sourcing us (for --help); "set" lists shell variables, not functions.
_po_vars=$(set -o posix; set | sed -n 's/^\([a-z][a-z0-9_]*\)=.*/\1/p' | grep -v -e '^_po' -e '^help_message$' | tr '\n' ' ')

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help)
      _po_print_help
      exit 0
      ;;
    --*=*)
      _po_name=${1%%=*}
      _po_value=${1#*=}
      shift
      ;;
    --*)
      _po_name=$1
      if [ $# -lt 2 ]; then
        echo "$_po_script: option $_po_name needs a value (see --help)" >&2
        exit 1
      fi
      _po_value=$2
      shift 2
      ;;
    *)
      break
      ;;
  esac
  _po_var=${_po_name#--}
  _po_var=${_po_var//-/_}
  if [ "$_po_var" = config ]; then
    if [ ! -f "$_po_value" ]; then
      echo "$_po_script: --config $_po_value: no such file" >&2
      exit 1
    fi
    # shellcheck disable=SC1090
    . "$_po_value"
    continue
  fi
  if ! [[ "$_po_var" =~ ^[a-z][a-z0-9_]*$ ]] || [ -z "${!_po_var+set}" ]; then
    echo "$_po_script: unknown option $_po_name (see --help for the options)" >&2
    exit 1
  fi
  _po_old=${!_po_var}
  if { [ "$_po_old" = true ] || [ "$_po_old" = false ]; } && [ "$_po_value" != true ] && [ "$_po_value" != false ]; then
    echo "$_po_script: option $_po_name takes true or false, got '$_po_value'" >&2
    exit 1
  fi
  printf -v "$_po_var" '%s' "$_po_value"
done
unset _po_name _po_value _po_var _po_old
true
