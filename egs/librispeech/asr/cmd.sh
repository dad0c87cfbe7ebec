# Where each kind of job runs. Local by default; on a Slurm cluster export CIFST_CMD_BACKEND=slurm (or edit below)
# and adjust the per-kind sbatch options. The logic lives in shared/cmd_lib.sh.
cmd_backend=${CIFST_CMD_BACKEND:-local}
default_slurm_opts="--cpus-per-task=4 --mem=8G --time=04:00:00"
synth_slurm_opts="--cpus-per-task=16 --mem=16G --time=04:00:00"
train_slurm_opts="--gres=gpu:1 --cpus-per-task=8 --mem=32G --time=48:00:00"
infer_slurm_opts="--gres=gpu:1 --cpus-per-task=4 --mem=16G --time=04:00:00"
decode_slurm_opts="--cpus-per-task=4 --mem=16G --time=04:00:00"
# shellcheck disable=SC1091
. shared/cmd_lib.sh
