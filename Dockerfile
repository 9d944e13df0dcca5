# The siting HTTP service: uvicorn api.main:app on port 8000, data in the /data volume.
#   docker build -t siting .
#   docker run -p 8000:8000 -v siting-data:/data -e SITING_WRITE_KEYS=planning:change-me siting
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SITING_STORAGE_DIR=/data

WORKDIR /app

# the wheels of the geo stack (rasterio, pyogrio, shapely, pyproj, highspy, osmium) bundle
# their C libraries; nothing else is needed from apt
COPY pyproject.toml README.md siting_errors.py ./
COPY siting ./siting
COPY geodata ./geodata
COPY solvers ./solvers
COPY api ./api
RUN pip install ".[api]"

RUN groupadd --system siting \
    && useradd --system --gid siting --home-dir /app --shell /usr/sbin/nologin siting \
    && mkdir -p /data \
    && chown siting:siting /data
USER siting

VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]

# one server process per storage folder (it holds the folder's lock; a second one refuses to
# start); jobs and solves run in worker processes (SITING_WORKERS, SITING_REQUEST_WORKERS)
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000", "--workers", "1"]
