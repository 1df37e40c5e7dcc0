# CLUE kit. `make help` lists the targets; every variable below can be overridden on the command line,
# e.g. `make reproduce MODEL=meta-llama/Meta-Llama-3-8B-Instruct RAW=~/physionet`.
PY       ?= .venv/bin/python
CLUE     ?= .venv/bin/clue
RAW      ?= raw
DATA     ?= data
RESULTS  ?= results
MODEL    ?= meta-llama/Meta-Llama-3-8B-Instruct
PROTOCOL ?= paper
RUN      ?= reproduce-$(PROTOCOL)
BACKEND  ?= hf
IMAGE    ?= clue
EVAL_ARGS ?=
MODELS   ?=
RAY_ADDRESS ?=
SWEEP_ARGS ?=
UPSTREAM ?= clue-upstream
PYTHON   ?= $(shell command -v python3.11 || command -v python3)
LOCK     ?= requirements/lock-cpu.txt
# where pip finds the CPU build of torch that lock-cpu.txt pins: pip's own find-links when set, else PyTorch's page
TORCH_CPU_LINKS ?= $(or $(PIP_FIND_LINKS),https://download.pytorch.org/whl/cpu/torch/)
UV_VERSION ?= 0.13.9
UV       ?= .venv/bin/uv
INSTALLED = .venv/.clue-installed

.PHONY: help install lock test test-fast lint reproduce fetch build verify protocol assets doctor evaluate tables sweep demo docker-build docker-run bench-medisumcode bench-umls bench-generation bench-bertscore bench-openai bench-sweep audit-upstream

help:
	@echo "make demo         the whole chain offline on synthetic data and a tiny model (numbers are NOT CLUE numbers)"
	@echo "make test         make demo, then the offline test suite"
	@echo "make test-fast    the fast subset of the tests (about 25 s), while working on the kit"
	@echo "make install      create .venv from requirements/lock-cpu.txt (hash-checked) and install the kit"
	@echo "make lock         resolve requirements/lock-cpu.txt and lock-cuda.txt again from pyproject.toml (uv)"
	@echo "make reproduce    fetch + build + verify data, fetch protocol and assets, evaluate MODEL, print tables vs the paper"
	@echo "make reproduce MODELS=paper   the same with the sweep of the paper's 25 models (ENGINE=vllm, RAY_ADDRESS=auto)"
	@echo "make sweep MODELS=paper|FILE  only the sweep step (clue sweep), then its tables"
	@echo "make docker-build build the GPU image '$(IMAGE)'; make docker-run runs 'evaluate' in it"
	@echo "make reproduce ENGINE=vllm   the same steps in the image, the model served by vLLM's image (compose.yaml)"
	@echo "make image-test   build the CPU image with buildah (no Docker engine) and run the kit in it as a non-root user"
	@echo "make lint         hadolint the Dockerfile"
	@echo "make audit-upstream UPSTREAM=dir  compare the kit with the original scripts of a CLUE checkout (PROTOCOL)"
	@echo "make bench-medisumcode | bench-umls | bench-generation | bench-bertscore | bench-openai | bench-sweep   the measurements quoted in README.md"

# .venv from the lock, again whenever the lock or the packaging changes (`make demo` and `make test` need it)
install: $(INSTALLED)

.venv/bin/python:
	$(PYTHON) -m venv .venv

$(INSTALLED): $(LOCK) pyproject.toml setup.py | .venv/bin/python
	.venv/bin/pip install --require-hashes --no-deps --find-links $(TORCH_CPU_LINKS) -r $(LOCK)
	.venv/bin/pip install --no-deps -e .
	touch $@

lock: | .venv/bin/python
	test -x $(UV) || .venv/bin/pip install --quiet "uv==$(UV_VERSION)"
	UV=$(UV) TORCH_CPU_LINKS=$(TORCH_CPU_LINKS) requirements/make-lock

test: demo
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider

# the fast subset while working on the kit (no servers, engines, Ray or subprocesses; two workers)
test-fast: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider -m "not slow" -n 2

lint:
	.venv/bin/hadolint Dockerfile

# ---- the paper's pipeline, step by step -------------------------------------------------
# ENGINE=vllm: the steps run in the kit's image (docker compose; protocols and metric assets are baked in
# and were checked by `clue doctor` when it was built) and the model is served by the vLLM image beside it.
# Otherwise (ENGINE=native): the local .venv.
# MODELS=paper (or a model list file) replaces the one-model evaluate step by `clue sweep` in the local .venv,
# each model through SWEEP_ENGINE (BACKEND for ENGINE=native; ENGINE=vllm: the managed vLLM engine per model).
ENGINE ?= native
SWEEP_ENGINE ?= $(if $(filter native,$(ENGINE)),$(BACKEND),$(ENGINE))
ifneq ($(strip $(MODELS)),)
REPRODUCE_STEPS = fetch build verify protocol assets sweep
else ifeq ($(ENGINE),vllm)
CLUE = $(COMPOSE) run --rm --no-deps kit
REPRODUCE_STEPS = fetch build verify compose-evaluate tables
else
REPRODUCE_STEPS = fetch build verify protocol assets evaluate tables
endif

reproduce: $(REPRODUCE_STEPS)

fetch:
	$(CLUE) data fetch --raw-dir $(RAW)

build:
	$(CLUE) data build --raw-dir $(RAW) --data-dir $(DATA)

verify:
	$(CLUE) data verify --data-dir $(DATA)

protocol:
	$(CLUE) protocol fetch --protocol $(PROTOCOL)

assets:
	$(CLUE) assets fetch

doctor:
	$(CLUE) doctor

evaluate:
	$(CLUE) evaluate --model $(MODEL) --backend $(BACKEND) --protocol $(PROTOCOL) --data-dir $(DATA) --results-dir $(RESULTS) --run $(RUN) $(EVAL_ARGS)

tables:
	$(CLUE) tables $(RESULTS)/$(RUN) --compare paper

sweep:               ## every model of MODELS (default: the paper's 25) into one run; prints the tables at the end
	$(CLUE) sweep --models $(or $(MODELS),paper) --engine $(SWEEP_ENGINE) --protocol $(PROTOCOL) --data-dir $(DATA) --results-dir $(RESULTS) --run $(RUN) $(if $(RAY_ADDRESS),--ray-address $(RAY_ADDRESS)) $(SWEEP_ARGS)

# ---- offline demo ---------------------------------------------------------------------
demo: $(INSTALLED)
	HF_HUB_OFFLINE=1 $(CLUE) demo --out demo-out

# ---- container ------------------------------------------------------------------------
.PHONY: image-test compose-evaluate
# The image records the kit's commit (it holds no .git) and labels itself with version, commit and source.
HF_CACHE    ?= $(HOME)/.cache/huggingface
VARIANT     ?= cuda
KIT_COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(shell git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo -dirty)
KIT_VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
KIT_SOURCE  ?= $(shell git config --get remote.origin.url 2>/dev/null || echo unknown)
DOCKER_USER ?= $(shell id -u):$(shell id -g)
COMPOSE     ?= env CLUE_UID=$(shell id -u) CLUE_GID=$(shell id -g) MODEL=$(MODEL) HF_CACHE=$(HF_CACHE) IMAGE=$(IMAGE) KIT_COMMIT=$(KIT_COMMIT) docker compose

docker-build:
	docker build -t $(IMAGE) --build-arg VARIANT=$(VARIANT) --build-arg KIT_COMMIT=$(KIT_COMMIT) \
	    --build-arg KIT_VERSION=$(KIT_VERSION) --build-arg KIT_SOURCE=$(KIT_SOURCE) .

docker-run:
	mkdir -p "$(HF_CACHE)"
	docker run --rm --gpus all --user "$(DOCKER_USER)" -v "$(CURDIR):/work" -v "$(HF_CACHE):/cache/huggingface" \
	    -e HF_TOKEN -e HF_HUB_OFFLINE=$(or $(HF_HUB_OFFLINE),1) $(IMAGE) \
	    evaluate --model $(MODEL) --protocol $(PROTOCOL) --run $(RUN) $(EVAL_ARGS)

# the CPU variant of the Dockerfile built with buildah, then clue --version/doctor/demo in it as a non-root user
image-test:
	.ci/image-test

# `make reproduce ENGINE=vllm`: every step in the kit's image (protocols and metric assets are baked in),
# the model served by the vLLM image beside it (compose.yaml), stopped after the run whatever its outcome.
compose-evaluate:
	mkdir -p "$(HF_CACHE)"
	$(COMPOSE) up -d --wait vllm
	$(COMPOSE) run --rm --no-deps kit evaluate --model $(MODEL) --backend openai --base-url http://vllm:8000/v1 \
	    --protocol $(PROTOCOL) --data-dir $(DATA) --results-dir $(RESULTS) --run $(RUN) $(EVAL_ARGS); \
	    status=$$?; $(COMPOSE) stop vllm; exit $$status

# ---- measurements quoted in README.md ----------------------------------------------------
bench-medisumcode:   ## MIMIC-scale MeDiSumCode build vs the literal original (first run generates ~4.4 GB of inputs)
	$(PY) bench/medisumcode_bench.py --reuse

bench-umls:          ## UMLS-F1 once-per-text + cache vs the original two passes, 1,000 pairs
	$(PY) bench/umls_speed.py

bench-generation:    ## padded and continuous batching vs one-at-a-time generation, tiny model, CPU
	HF_HUB_OFFLINE=1 $(PY) bench/generation_throughput.py --json bench/out/generation_throughput.json

bench-openai:        ## --backend openai: 16 vs 1 requests in flight against transformers serve, and the kit's own cost per request
	HF_HUB_OFFLINE=1 $(PY) bench/openai_throughput.py --continuous-batching --scale 3 --json bench/out/openai_throughput.json
	HF_HUB_OFFLINE=1 $(PY) bench/openai_throughput.py --server instant --scale 3 --repeats 5 --json bench/out/openai_instant.json

bench-bertscore:     ## BERTScore one pair per call vs batches of 64 (tiny and BERT-base-sized BERT, CPU)
	HF_HUB_OFFLINE=1 $(PY) bench/bertscore_per_pair.py --pairs 256 --threads 1

bench-sweep:         ## three tiny models: serial sweep vs two Ray workers, Ray's overhead per model
	HF_HUB_OFFLINE=1 $(PY) bench/sweep_ray.py --json bench/out/sweep_ray.json

audit-upstream:      ## the original scripts of the checkout UPSTREAM beside the kit, item by item (offline)
	HF_HUB_OFFLINE=1 $(CLUE) audit-upstream --upstream-dir $(UPSTREAM) --protocol $(PROTOCOL)
