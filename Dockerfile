# deploybot, the Slack bot: Python, git and deploybot with its locked dependencies.
#
# Build:  docker build -t deploybot .
#   For byte-for-byte rebuilds pin the base by digest:
#   --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>
# Run: docs/operating.md, "In a container" (the local provider needs the Docker
# socket and the host's network; Beanstalk needs the socket for image builds only).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/deploybot
# Dependencies first, exactly as locked (hash-checked wheels), so code changes reuse this layer.
COPY docker/requirements.lock /tmp/requirements.lock
RUN /opt/deploybot/bin/pip install --require-hashes --only-binary=:all: -r /tmp/requirements.lock
COPY pyproject.toml README.md /src/
COPY bot /src/bot
COPY deployer /src/deployer
RUN /opt/deploybot/bin/pip install --no-deps /src \
    && /opt/deploybot/bin/pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE}
# git fetches the branches (over https, or ssh with the client); nothing else is needed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group deploybot
COPY --from=build /opt/deploybot /opt/deploybot
# A non-root user; for the host's Docker socket add its group at run time:
#   --group-add "$(stat -c %g /var/run/docker.sock)"
USER deploybot
WORKDIR /home/deploybot
ENV PATH=/opt/deploybot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    DEPLOYBOT_WORK_DIR=/home/deploybot/work \
    DEPLOYBOT_STATE=sqlite:////home/deploybot/state/deploybot.db
# The store (environments, cards, audit trail) outlives the container when this is a volume.
RUN mkdir -p /home/deploybot/state /home/deploybot/work
VOLUME /home/deploybot/state
EXPOSE 3000
# /healthz answers in both modes (in Socket Mode it says whether Slack's connection is up).
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=2)"]
ENTRYPOINT ["deploybot"]
CMD ["serve"]
