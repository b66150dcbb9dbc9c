FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY caremap caremap
COPY directory directory
COPY referrals referrals
COPY search_index search_index
COPY seeds seeds
RUN pip install --no-cache-dir . && useradd --create-home caremap && mkdir /data && chown caremap /data
USER caremap
ENV CAREMAP_DATA_DIR=/data
EXPOSE 8000
CMD ["caremap", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
