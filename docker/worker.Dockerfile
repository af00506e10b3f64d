# medgrid GPU worker image: `pip install ".[models]"` (torch, torchvision, transformers) on a CUDA
# base. One container serves one model: `medgrid serve worker --model <id>` consumes only the
# queue model.<id>, loads the model once and touches $MEDGRID_READY_FILE when it is ready.
#
#   docker build -f docker/worker.Dockerfile -t medgrid/worker:0.1.0 .
#
# torch's wheels bring their own CUDA runtime libraries; the base image gives the container
# toolkit its settings (NVIDIA_VISIBLE_DEVICES, NVIDIA_DRIVER_CAPABILITIES). Pick a CUDA_IMAGE
# whose CUDA major version the hosts' driver supports. Weights are never baked in: they are
# mounted read-only at /models (the `path` of each models/*.yaml).
ARG CUDA_IMAGE=nvidia/cuda:13.0.0-base-ubuntu24.04

# ---- build ------------------------------------------------------------------------------------
FROM ${CUDA_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/medgrid
WORKDIR /src
COPY . .
# One pip step so torch, torchvision and transformers resolve together (see pyproject.toml).
RUN /opt/medgrid/bin/pip install ".[models]" \
 && /opt/medgrid/bin/medgrid --help > /dev/null

# ---- runtime ----------------------------------------------------------------------------------
FROM ${CUDA_IMAGE} AS runtime
LABEL org.opencontainers.image.title="medgrid-worker" \
      org.opencontainers.image.description="medgrid GPU worker: one model per container" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 medgrid \
 && useradd --system --uid 10001 --gid medgrid --home-dir /home/medgrid --create-home \
            --shell /usr/sbin/nologin medgrid \
 && install -d -o medgrid -g medgrid -m 0750 /var/lib/medgrid
COPY --from=build /opt/medgrid /opt/medgrid
COPY models/ /etc/medgrid/models/
COPY docker/healthcheck.py /usr/local/bin/medgrid-healthcheck
ENV PATH=/opt/medgrid/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MEDGRID_HOME=/var/lib/medgrid \
    MEDGRID_MODELS_DIR=/etc/medgrid/models \
    MEDGRID_READY_FILE=/tmp/medgrid-ready \
    MEDGRID_PROGRESS=false \
    HF_HOME=/var/lib/medgrid/hf \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
USER 10001:10001
WORKDIR /home/medgrid
# Healthy once the model is loaded (the worker touches $MEDGRID_READY_FILE); loading a 72B model
# from network storage takes a while, hence the long start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=1800s --retries=3 \
    CMD ["medgrid-healthcheck", "file"]
# Compose and Kubernetes always pass the command; this default serves $MEDGRID_MODEL.
CMD ["/bin/sh", "-c", "exec medgrid serve worker --model \"${MEDGRID_MODEL:?set MEDGRID_MODEL to a model id of models/*.yaml}\""]
