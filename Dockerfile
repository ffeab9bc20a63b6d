# Leash image: one `leash` console script; compose.yaml runs it as serve, sink, detect and dashboard.
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# .dockerignore keeps the context to pyproject.toml, README.md and the Python packages
COPY . .
RUN python -m venv /opt/leash && /opt/leash/bin/pip install .

FROM python:3.11.11-slim-bookworm
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/leash leash
COPY --from=build /opt/leash /opt/leash
ENV PATH=/opt/leash/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LEASH_DATA_DIR=/var/lib/leash \
    LEASH_HOST=0.0.0.0
USER leash
WORKDIR /var/lib/leash
EXPOSE 8000 8501
# The API's own probe; compose overrides it for the sink, detector and dashboard.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["leash"]
CMD ["serve"]
