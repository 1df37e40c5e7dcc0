# CLUE kit image: the kit and every dependency from the lock, and (by default) the metric assets and both
# pinned protocols, so that `docker run --gpus all clue evaluate …` scores with the network off.
# No PhysioNet/MIMIC data ever goes into the image: mount your raw files, test sets and results at /work.
#
#   make docker-build                      # = docker build with KIT_COMMIT/KIT_VERSION/KIT_SOURCE filled in
#   docker build -t clue --build-arg WITH_ASSETS=0 .           # no assets/protocols (fetch them later)
#   docker run --rm --gpus all --user "$(id -u):$(id -g)" -v "$PWD:/work" \
#       -v "$HOME/.cache/huggingface:/cache/huggingface" -e HF_TOKEN clue evaluate --model M
#
# VARIANT=cuda (default) installs requirements/lock-cuda.txt: torch's CUDA build from PyPI, which carries
# the CUDA runtime libraries as nvidia-* wheels, so a plain Python 3.11 Debian base is enough; the host
# needs an NVIDIA driver new enough for that CUDA (README, "Docker") and the NVIDIA Container Toolkit.
# VARIANT=cpu installs requirements/lock-cpu.txt (the CPU torch wheel; `make image-test` builds it).
# BASE_IMAGE must provide python3 (3.11) with venv and useradd; the default is pinned by digest. That digest
# was taken from public material and not checked against Docker Hub (no registry access where this was
# written): `docker buildx imagetools inspect python:3.11-slim-bookworm` shows the current one.

ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# ---- build: a virtualenv with the locked dependencies, then the kit, then (optionally) the assets ----------
FROM ${BASE_IMAGE} AS build
ARG VARIANT=cuda
# Optional, for builds behind a package mirror or a TLS-inspecting proxy (`make image-test` uses them);
# unset by default. They exist in this stage only, not in the final image.
ARG PIP_INDEX_URL
ARG PIP_CERT
ARG PIP_FIND_LINKS
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_CACHE_DIR=/root/.cache/pip \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/clue/venv/bin:$PATH
RUN python3 -m venv /opt/clue/venv

# Dependency layer: it depends on the lock alone, so editing the kit's code does not rebuild it.
# The cache mount keeps downloaded wheels between builds (it is not part of the image).
COPY requirements/lock-${VARIANT}.txt /opt/clue/lock.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --require-hashes --no-deps -r /opt/clue/lock.txt

# The kit itself, as a regular (not editable) install: --no-deps, since everything it needs came from the
# lock, and --no-build-isolation, since its build backend (setuptools) is in the lock too: nothing unpinned.
# Then the metric assets at their pinned revisions and hashes and both pinned CLUE protocols, and
# `clue doctor` with the network off: a missing or corrupt file fails the build here, not a run later.
COPY . /opt/clue/src
ARG WITH_ASSETS=1
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps --no-build-isolation /opt/clue/src \
 && pip check \
 && rm -rf /opt/clue/src \
 && mkdir -p /opt/clue/assets /opt/clue/protocol \
 && if [ "$WITH_ASSETS" = "1" ]; then \
      HF_HOME=/tmp/hf-build clue assets fetch --quiet --assets-dir /opt/clue/assets \
      && clue protocol fetch --protocol paper --protocol-dir /opt/clue/protocol \
      && clue protocol fetch --protocol upstream --protocol-dir /opt/clue/protocol \
      && HF_HUB_OFFLINE=1 clue doctor --assets-dir /opt/clue/assets --protocol-dir /opt/clue/protocol \
           --protocol paper --protocol upstream --no-gpu \
      && rm -rf /tmp/hf-build; \
    else \
      echo "WITH_ASSETS=0: no metric assets or protocols baked in; clue doctor will report them missing"; \
    fi

# ---- runtime: the base image and /opt/clue (virtualenv, assets, protocols, the lock); no compilers, no pip
# cache, no sources. The image's settings come first and the one large COPY last, so that a rebuild after a
# code change copies the virtualenv once.
FROM ${BASE_IMAGE}
ARG KIT_VERSION=0.1.0
ARG KIT_COMMIT=unknown
ARG KIT_SOURCE=unknown
ARG VARIANT=cuda
LABEL org.opencontainers.image.title="clue-kit" \
      org.opencontainers.image.description="Reproducibility kit for CLUE (arXiv 2404.04067): data recipes, protocols, evaluation, reports" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${KIT_VERSION}" \
      org.opencontainers.image.revision="${KIT_COMMIT}" \
      org.opencontainers.image.source="${KIT_SOURCE}" \
      org.clue-kit.variant="${VARIANT}"

# A default non-root user; `--user "$(id -u):$(id -g)"` runs as any other, whose files then belong to the
# invoking host user. HOME and the cache folders are writable by every user, since such a user has no
# passwd entry and no home of its own.
RUN useradd --uid 1000 --user-group --no-log-init --create-home --home-dir /home/clue --shell /bin/sh clue \
 && mkdir -p /work /cache/huggingface \
 && chmod 1777 /home/clue /work /cache/huggingface

# HF_HUB_OFFLINE=1: nothing is downloaded at run time unless asked (`-e HF_HUB_OFFLINE=0`, e.g. to fetch
# a model's weights into the mounted cache). CLUE_KIT_COMMIT is what run manifests record as the kit's
# commit (the image holds no .git).
ENV PATH=/opt/clue/venv/bin:$PATH \
    HOME=/home/clue \
    HF_HOME=/cache/huggingface \
    HF_HUB_OFFLINE=1 \
    CLUE_ASSETS=/opt/clue/assets \
    CLUE_PROTOCOL=/opt/clue/protocol \
    CLUE_KIT_COMMIT=${KIT_COMMIT} \
    MPLCONFIGDIR=/tmp/matplotlib \
    PYTHONUNBUFFERED=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
VOLUME ["/cache/huggingface"]
WORKDIR /work
USER 1000:1000
ENTRYPOINT ["clue"]
CMD ["--help"]
COPY --from=build /opt/clue /opt/clue
