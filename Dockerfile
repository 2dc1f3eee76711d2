# One Dockerfile, four images (build with --target):
#   algorithm   crossmoda-algorithm   torch + MONAI; base: a CUDA PyTorch image
#   evaluation  crossmoda-evaluate    torch-free;    base: slim Python
#   ranking     crossmoda-rank        torch-free;    base: slim Python
#   phantom     crossmoda-phantom     demo data for docker-compose (torch, for the templates)
#
#   docker build --target evaluation -t crossmoda/evaluation:0.1.0 .
#
# Build arguments (all optional):
#   PYTHON_BASE   base of the torch-free images (any Debian/Ubuntu image with python3 >= 3.10 + venv)
#   TORCH_BASE    base of the torch images; its own torch is used unless TORCH_SPEC is set
#   TORCH_SPEC    pip requirement installed first into the torch images, e.g. "torch==2.13.0+cpu"
#                 (with a wheel folder in PIP_FIND_LINKS) for a CPU-only image on a plain Python base
#   VERSION, GIT_COMMIT, SOURCE   recorded as OCI labels (and the commit in every output's provenance)
#   MODEL         algorithm image: the shipped model it runs by default, `adapted` (crossMoDA 2022,
#                 the default) or `adapted_2023` (crossMoDA 2023: T2 in, labels 1-3 out), set as
#                 CROSSMODA_DEFAULT_MODEL; /opt/ml/model, $CROSSMODA_MODEL and --model override it
#                   docker build --target algorithm --build-arg MODEL=adapted_2023 -t crossmoda/algorithm-2023:0.1.0 .
#   PIP_CERT, PIP_FIND_LINKS, PIP_INDEX_URL, PIP_EXTRA_INDEX_URL   passed to pip during the build only
#
# The images run as the non-root user `crossmoda` (uid 1000) and need a writable /output.

ARG PYTHON_BASE=python:3.11.11-slim-bookworm
ARG TORCH_BASE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

# --------------------------------------------------------------------------- common build steps
# The package as a wheel (pure Python; built once, installed with --no-deps into every image).
FROM ${PYTHON_BASE} AS wheel
ARG PIP_CERT
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/build
COPY pyproject.toml README.md LICENSE /src/
COPY src /src/src
RUN /opt/build/bin/pip wheel --no-deps -q -w /dist /src

# Each extra's requirements as a file: the dependency layers below are keyed on these files'
# content, so neither a code change nor a new console script re-downloads the dependencies.
FROM ${PYTHON_BASE} AS requirements
COPY pyproject.toml /pyproject.toml
RUN mkdir /reqs && python3 -c "import tomllib; \
p = tomllib.load(open('/pyproject.toml', 'rb'))['project']; \
[open(f'/reqs/{x}.txt', 'w').write('\n'.join(p['dependencies'] + p['optional-dependencies'][x]) + '\n') \
 for x in ('evaluation', 'ranking', 'algorithm', 'phantom')]"

FROM ${PYTHON_BASE} AS python-deps
ARG PIP_CERT
ARG PIP_FIND_LINKS
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv

FROM python-deps AS evaluation-build
COPY --from=requirements /reqs/evaluation.txt /reqs/
RUN /opt/venv/bin/pip install -q -r /reqs/evaluation.txt
COPY --from=wheel /dist /dist
# The shipped model weights belong to the algorithm image only.
RUN /opt/venv/bin/pip install -q --no-deps --force-reinstall /dist/*.whl \
 && rm -rf /opt/venv/lib/python3*/site-packages/crossmoda/algorithm/models \
 && /opt/venv/bin/pip uninstall -y -q pip setuptools \
 && find /opt/venv/lib -type d -name tests -path "*/site-packages/*" -prune -exec rm -rf {} +

FROM python-deps AS ranking-build
COPY --from=requirements /reqs/ranking.txt /reqs/
RUN /opt/venv/bin/pip install -q -r /reqs/ranking.txt
COPY --from=wheel /dist /dist
# The shipped model weights belong to the algorithm image only.
RUN /opt/venv/bin/pip install -q --no-deps --force-reinstall /dist/*.whl \
 && rm -rf /opt/venv/lib/python3*/site-packages/crossmoda/algorithm/models \
 && /opt/venv/bin/pip uninstall -y -q pip setuptools \
 && find /opt/venv/lib -type d -name tests -path "*/site-packages/*" -prune -exec rm -rf {} +

FROM ${PYTHON_BASE} AS python-runtime
ENV PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    MPLCONFIGDIR=/tmp/matplotlib
RUN (getent passwd crossmoda >/dev/null || useradd --create-home --uid 1000 --user-group crossmoda) \
 && mkdir -p /input /output && chown crossmoda:crossmoda /output
WORKDIR /home/crossmoda

# ------------------------------------------------------------------------------------ evaluation
FROM python-runtime AS evaluation
ARG VERSION=0.1.0
ARG GIT_COMMIT=unknown
ARG SOURCE=https://github.com/crossmoda/crossmoda
LABEL org.opencontainers.image.title="crossmoda-evaluation" \
      org.opencontainers.image.description="crossMoDA evaluation: Dice/ASSD per structure and Koos MA-MAE" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV CROSSMODA_GIT_COMMIT=${GIT_COMMIT}
COPY --from=evaluation-build /opt/venv /opt/venv
USER crossmoda
ENTRYPOINT ["crossmoda-evaluate"]

# --------------------------------------------------------------------------------------- ranking
FROM python-runtime AS ranking
ARG VERSION=0.1.0
ARG GIT_COMMIT=unknown
ARG SOURCE=https://github.com/crossmoda/crossmoda
LABEL org.opencontainers.image.title="crossmoda-ranking" \
      org.opencontainers.image.description="crossMoDA ranking: per-case rank-then-aggregate, bootstrap, report" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV CROSSMODA_GIT_COMMIT=${GIT_COMMIT}
COPY --from=ranking-build /opt/venv /opt/venv
USER crossmoda
ENTRYPOINT ["crossmoda-rank"]

# ----------------------------------------------------------------------------- torch build steps
FROM ${TORCH_BASE} AS torch-deps
ARG PIP_CERT
ARG PIP_FIND_LINKS
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG TORCH_SPEC=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# --system-site-packages: the base image's own torch (CUDA build) satisfies the requirement.
RUN python3 -m venv --system-site-packages /opt/venv \
 && if [ -n "${TORCH_SPEC}" ]; then /opt/venv/bin/pip install -q "${TORCH_SPEC}"; fi

FROM torch-deps AS algorithm-build
COPY --from=requirements /reqs/algorithm.txt /reqs/
RUN /opt/venv/bin/pip install -q -r /reqs/algorithm.txt
COPY --from=wheel /dist /dist
RUN /opt/venv/bin/pip install -q --no-deps --force-reinstall /dist/*.whl

FROM torch-deps AS phantom-build
COPY --from=requirements /reqs/phantom.txt /reqs/
RUN /opt/venv/bin/pip install -q -r /reqs/phantom.txt
COPY --from=wheel /dist /dist
RUN /opt/venv/bin/pip install -q --no-deps --force-reinstall /dist/*.whl

FROM ${TORCH_BASE} AS torch-runtime
ENV PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    MPLCONFIGDIR=/tmp/matplotlib
RUN (getent passwd crossmoda >/dev/null || useradd --create-home --uid 1000 --user-group crossmoda) \
 && mkdir -p /input /output /opt/ml/model && chown crossmoda:crossmoda /output
WORKDIR /home/crossmoda

# ------------------------------------------------------------------------------------- algorithm
FROM torch-runtime AS algorithm
ARG VERSION=0.1.0
ARG GIT_COMMIT=unknown
ARG SOURCE=https://github.com/crossmoda/crossmoda
LABEL org.opencontainers.image.title="crossmoda-algorithm" \
      org.opencontainers.image.description="crossMoDA algorithm: VS + cochlea segmentation and Koos grade from hrT2" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
ARG MODEL=adapted
ENV CROSSMODA_GIT_COMMIT=${GIT_COMMIT} \
    CROSSMODA_DEFAULT_MODEL=${MODEL}
COPY --from=algorithm-build /opt/venv /opt/venv
# A stable path to the shipped models: --model /opt/crossmoda/models/<name> (or just --model <name>).
# The build fails here when MODEL names no installed shipped model.
RUN mkdir -p /opt/crossmoda && ln -s "$(python -c 'import importlib.util, os; \
print(os.path.dirname(importlib.util.find_spec("crossmoda.algorithm").origin))')/models" /opt/crossmoda/models \
 && python -c "from crossmoda.algorithm.model.shipped import shipped_model_dir as d; print('model:', d('${MODEL}'))"
USER crossmoda
ENTRYPOINT ["crossmoda-algorithm"]

# --------------------------------------------------------------------------------------- phantom
FROM torch-runtime AS phantom
ARG VERSION=0.1.0
ARG GIT_COMMIT=unknown
ARG SOURCE=https://github.com/crossmoda/crossmoda
LABEL org.opencontainers.image.title="crossmoda-phantom" \
      org.opencontainers.image.description="crossMoDA-shaped synthetic data sets (demo data)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV CROSSMODA_GIT_COMMIT=${GIT_COMMIT}
COPY --from=phantom-build /opt/venv /opt/venv
USER crossmoda
ENTRYPOINT ["crossmoda-phantom"]
