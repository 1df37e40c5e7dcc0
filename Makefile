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
ENGINE   ?= $(BACKEND)
RAY_ADDRESS ?=
SWEEP_ARGS ?=
UPSTREAM ?= clue-upstream

.PHONY: help install test lint reproduce fetch build verify protocol assets doctor evaluate tables sweep demo docker-build docker-run bench-medisumcode bench-umls bench-generation bench-bertscore bench-sweep audit-upstream

help:
	@echo "make install      create .venv and install the kit (CPU torch pin; see README for GPU)"
	@echo "make test         run the offline test suite"
	@echo "make reproduce    fetch + build + verify data, fetch protocol and assets, evaluate MODEL, print tables vs the paper"
	@echo "make reproduce MODELS=paper   the same with the sweep of the paper's 25 models (ENGINE=vllm, RAY_ADDRESS=auto)"
	@echo "make sweep MODELS=paper|FILE  only the sweep step (clue sweep), then its tables"
	@echo "make demo         the whole chain offline on synthetic data and a tiny model (numbers are NOT CLUE numbers)"
	@echo "make docker-build build the GPU image '$(IMAGE)'; make docker-run runs 'evaluate' in it"
	@echo "make lint         hadolint the Dockerfile"
	@echo "make audit-upstream UPSTREAM=dir  compare the kit with the original scripts of a CLUE checkout (PROTOCOL)"
	@echo "make bench-medisumcode | bench-umls | bench-generation | bench-bertscore   the measurements quoted in README.md"

install:
	python3 -m venv .venv
	.venv/bin/pip install torch==2.13.0
	.venv/bin/pip install -e ".[test]"

test:
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider

lint:
	.venv/bin/hadolint Dockerfile

# ---- the paper's pipeline, step by step -------------------------------------------------
# MODELS=paper (or a model list file) replaces the one-model evaluate step by `clue sweep`
ifeq ($(strip $(MODELS)),)
REPRODUCE_RUN := evaluate tables
else
REPRODUCE_RUN := sweep
endif
reproduce: fetch build verify protocol assets $(REPRODUCE_RUN)

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
	$(CLUE) sweep --models $(or $(MODELS),paper) --engine $(ENGINE) --protocol $(PROTOCOL) --data-dir $(DATA) --results-dir $(RESULTS) --run $(RUN) $(if $(RAY_ADDRESS),--ray-address $(RAY_ADDRESS)) $(SWEEP_ARGS)

# ---- offline demo ---------------------------------------------------------------------
demo:
	HF_HUB_OFFLINE=1 $(CLUE) demo --out demo-out

# ---- container ------------------------------------------------------------------------
docker-build:
	docker build -t $(IMAGE) .

docker-run:
	docker run --rm --gpus all -v "$(CURDIR):/work" -e HF_TOKEN $(IMAGE) evaluate --model $(MODEL) --protocol $(PROTOCOL) --run $(RUN) $(EVAL_ARGS)

# ---- measurements quoted in README.md ----------------------------------------------------
bench-medisumcode:   ## MIMIC-scale MeDiSumCode build vs the literal original (first run generates ~4.4 GB of inputs)
	$(PY) bench/medisumcode_bench.py --reuse

bench-umls:          ## UMLS-F1 once-per-text + cache vs the original two passes, 1,000 pairs
	$(PY) bench/umls_speed.py

bench-generation:    ## batched vs one-at-a-time generation with the tiny model on CPU
	HF_HUB_OFFLINE=1 $(PY) bench/generation_throughput.py --json bench/out/generation_throughput.json

bench-bertscore:     ## BERTScore one pair per call vs batches of 64 (tiny and BERT-base-sized BERT, CPU)
	HF_HUB_OFFLINE=1 $(PY) bench/bertscore_per_pair.py --pairs 256 --threads 1

bench-sweep:         ## three tiny models: serial sweep vs two Ray workers, Ray's overhead per model
	HF_HUB_OFFLINE=1 $(PY) bench/sweep_ray.py --json bench/out/sweep_ray.json

audit-upstream:      ## the original scripts of the checkout UPSTREAM beside the kit, item by item (offline)
	HF_HUB_OFFLINE=1 $(CLUE) audit-upstream --upstream-dir $(UPSTREAM) --protocol $(PROTOCOL)
