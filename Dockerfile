# deploybot itself. Build: docker build -t deploybot .
# Run (Beanstalk provider; the image build needs a Docker engine, here the host's):
#   docker run --env-file .env -v /var/run/docker.sock:/var/run/docker.sock -p 3000:3000 deploybot
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY deployer ./deployer
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 deploybot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# Runs as a non-root user; to use the host's Docker socket, add its group:
#   --group-add $(stat -c %g /var/run/docker.sock)
USER deploybot
ENV PORT=3000 DEPLOYBOT_WORK_DIR=/home/deploybot/.cache/deploybot PYTHONUNBUFFERED=1
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"3000\")}/healthz', timeout=2)" || exit 1
ENTRYPOINT ["deploybot"]
CMD ["serve"]
