# The two set-up-and-run commands of the README. Each does its own install (tools/install.sh is idempotent).
.PHONY: demo test lint install

install:
	bash tools/install.sh

# Main job: the synthetic English recipe end to end at its small default size, ending with the WER report.
demo: install
	cd egs/synth_en/asr && bash run.sh

# The test suite CI runs (.ci/run): everything but the `slow` mark, plus ruff.
test: install
	.venv/bin/ruff check asr decoding lm tests tools
	.venv/bin/python -m pytest -m "not slow" -q -p no:cacheprovider

lint:
	.venv/bin/ruff check asr decoding lm tests tools
	.venv/bin/ruff format --check asr decoding lm tests tools
