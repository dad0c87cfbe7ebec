# Sourced by run.sh (and by you, to run single commands by hand: `. ./path.sh`). CIFST_ROOT defaults to the
# repository holding this recipe; the rest of the environment is shared/env.sh.
CIFST_ROOT=${CIFST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/shared/env.sh"
