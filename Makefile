PY ?= .venv/bin/python
CLUE ?= .venv/bin/clue

.PHONY: install test
install:
	python3 -m venv .venv
	.venv/bin/pip install torch==2.13.0
	.venv/bin/pip install -e ".[test]"

test:
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider
