# The collector's image for deploy/compose.yaml (built from the repository's root).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/slawatch --shell /usr/sbin/nologin slawatch
COPY . /opt/slawatch/src
RUN pip install --no-cache-dir "/opt/slawatch/src[collector]"
USER slawatch
WORKDIR /var/lib/slawatch
STOPSIGNAL SIGTERM
CMD ["slawatch-collector", "run", "-c", "/etc/slawatch/collector.yaml"]
