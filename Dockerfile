# Locust with the registry_tasks plugin; used by docker-compose.yml for master and workers.
FROM locustio/locust:2.47.0

USER root
WORKDIR /src
# README.m[d]: copied when present (pyproject names it as the readme) without failing when absent.
COPY pyproject.toml README.m[d] ./
COPY registry_tasks ./registry_tasks
RUN pip install --no-cache-dir . && rm -rf /src
COPY locustfile.py /home/locust/locustfile.py

USER locust
WORKDIR /home/locust
