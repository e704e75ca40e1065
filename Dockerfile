FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install --no-cache-dir .

# Listen on all interfaces inside the container; map the port and set PUBLIC_URL for callbacks.
ENV WEB_HOST=0.0.0.0 \
    WEB_PORT=8080 \
    DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"WEB_PORT\",\"8080\")}/healthz')"
CMD ["python", "-m", "bot"]
