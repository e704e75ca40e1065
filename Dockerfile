# The bot in a container: `docker compose up -d` (see compose.yaml and the README).
FROM python:3.11-slim-bookworm

# Logs go straight to `docker logs`; no .pyc files written at run time (the code is read-only).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The simulator's "SIMULATED" label is drawn in DejaVu (it has the em dash); nothing else is needed:
# Pillow and PyAV wheels bring their own libraries, FFmpeg included.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# A user of its own, with a fixed uid so the data volume's owner is predictable.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/bot --shell /usr/sbin/nologin bot \
    && mkdir /data \
    && chown bot:bot /data

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes, not on
# every code change. The list is read from pyproject.toml, so there is no second list to keep in step.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the code, owned by root and read-only for the bot; compiled once here for a faster start.
COPY bot ./bot
COPY cogs ./cogs
RUN python -m compileall -q bot cogs

# Listen on all interfaces inside the container (map the port; set PUBLIC_URL for callbacks).
# Keep the data on the volume. compose.yaml sets these two again, so a copied .env cannot undo them.
ENV WEB_HOST=0.0.0.0 \
    WEB_PORT=8080 \
    DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080

USER bot

# /healthz answers 200 only when the bot works (503 names the failing part); urlopen raises on
# anything else, so the exit code is the verdict. Python's own urllib: no curl in the image.
# An empty WEB_PORT (as `WEB_PORT=` in .env) means the default, as it does for the bot.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % (os.environ.get('WEB_PORT') or '8080'), timeout=4)"]

CMD ["python", "-m", "bot"]
