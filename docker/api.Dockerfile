# medgrid slim image: the API (gunicorn), the scoring service, the sweeper and the migrate job.
# No torch: `pip install .` is the base install of pyproject.toml.
#
#   docker build -f docker/api.Dockerfile -t medgrid/api:0.1.0 .
#
# Nothing secret is baked in: database URL, Redis URL and API tokens come from the environment
# (compose: .env; Kubernetes: the medgrid-secrets Secret).
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# ---- build: a virtual environment with medgrid and its base dependencies ----------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/medgrid
WORKDIR /src
# .dockerignore allow-lists the package sources, pyproject.toml and models/.
COPY . .
RUN /opt/medgrid/bin/pip install . \
 && /opt/medgrid/bin/medgrid --help > /dev/null

# ---- runtime: the venv, the model roster and a health check; runs as an unprivileged user ----
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="medgrid" \
      org.opencontainers.image.description="medgrid API, scoring service, sweeper and migrations (no torch)" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 medgrid \
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
    MEDGRID_PROGRESS=false
USER 10001:10001
WORKDIR /home/medgrid
EXPOSE 8000
# The API answers /healthz; compose and Kubernetes give scoring/sweeper/migrate their own checks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["medgrid-healthcheck", "http"]
CMD ["medgrid", "serve", "api"]
