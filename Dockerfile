# CLUE kit GPU image: the kit, every dependency and (by default) the metric assets and the
# pinned protocol files, so that `docker run --gpus all clue evaluate …` needs no network.
# No PhysioNet/MIMIC data is ever put in the image: mount your raw files and outputs at /work.
#
#   docker build -t clue .                               # with metric assets (needs network at build)
#   docker build -t clue --build-arg WITH_ASSETS=0 .     # without them (fetch later into a volume)
#   docker run --gpus all -v "$PWD:/work" clue evaluate --model /work/models/M --run myrun
FROM python:3.11.10-slim-bookworm

ARG WITH_ASSETS=1
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/opt/hf \
    CLUE_ASSETS=/opt/clue/assets \
    CLUE_PROTOCOL=/opt/clue/protocol

# git: resolve the kit's commit for run manifests; build-essential: wheels without binaries (nmslib).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends git build-essential ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/clue/kit
COPY pyproject.toml README.md ./
COPY clue ./clue
COPY data_recipes ./data_recipes
COPY results/paper ./results/paper

# The kit's pins (pyproject.toml); vLLM runs as its own process or container (--backend vllm / openai).
RUN pip install -e .

# Metric assets at their pinned revisions and hashes, and both pinned CLUE protocols.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN if [ "$WITH_ASSETS" = "1" ]; then \
      clue assets fetch \
      && clue protocol fetch --protocol paper \
      && clue protocol fetch --protocol upstream \
      && clue doctor; \
    fi

WORKDIR /work
ENTRYPOINT ["clue"]
CMD ["--help"]
