#!/usr/bin/env bash
# Where jobs run: sourced by each recipe's cmd.sh, which sets the backend and per-job resources.
#
#   run_job KIND LOGFILE COMMAND ARGS...
# runs COMMAND locally (output teed to LOGFILE) when cmd_backend=local, or as a Slurm job that the call waits for
# (`sbatch --wait`, output in LOGFILE) when cmd_backend=slurm; KIND picks the resources from `<kind>_slurm_opts`
# (e.g. train_slurm_opts="--gres=gpu:1 --time=24:00:00"). The exit code is the job's.

run_job() {
  local kind=$1 logfile=$2
  shift 2
  mkdir -p "$(dirname "$logfile")"
  case "${cmd_backend:-local}" in
    local)
      echo "# $* (started $(date '+%F %T'))" > "$logfile"
      local rc=0
      # inside `{ } || true` a failure does not trip the caller's `set -e` before its code is kept
      { "$@" 2>&1 | tee -a "$logfile"; rc=${PIPESTATUS[0]}; } || true
      return "$rc"
      ;;
    slurm)
      command -v sbatch > /dev/null || { echo "cmd_backend=slurm but sbatch is not on PATH" >&2; return 1; }
      local opts_var="${kind}_slurm_opts"
      local opts=${!opts_var:-${default_slurm_opts:-}}
      local script
      script=$(mktemp "${logfile}.XXXX.sbatch")
      {
        echo "#!/usr/bin/env bash"
        echo "set -euo pipefail"
        echo "cd $(printf '%q' "$PWD")"
        [ -f path.sh ] && echo ". ./path.sh"
        printf '%q ' "$@"
        echo
      } > "$script"
      # shellcheck disable=SC2086
      local rc=0
      sbatch --wait --job-name "cifst-$kind" --output "$logfile" $opts "$script" || rc=$?
      rm -f "$script"
      return $rc
      ;;
    *)
      echo "unknown cmd_backend '${cmd_backend}': use local or slurm (set in cmd.sh)" >&2
      return 1
      ;;
  esac
}
