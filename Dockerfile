# The timebank bot in a container: `python -m bot`, its SQLite ledger on a volume mounted at /data.
#
#   docker build -t timebank-bot .
#   docker run -d --name timebank --restart unless-stopped -e BOT_TOKEN=... -v timebank-data:/data timebank-bot
#
# Fly.io, Render and Railway build this same file (README: Deploy). The container starts as root
# only to give /data to the bot's user (platforms mount volumes owned by root), then runs the bot
# as that unprivileged user (deploy/entrypoint.sh); with LITESTREAM_REPLICA_URL set it restores
# an empty volume from the replica and runs the bot under `litestream replicate -exec`.

ARG PYTHON_IMAGE=python:3.12-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    DATABASE_URL=sqlite:////data/timebank.sqlite3 \
    TIMEBANK_USER=bot

RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin bot \
    && mkdir -p /data /app \
    && chown bot:bot /data
WORKDIR /app

# Dependencies from the project's own pyproject.toml (its [project] dependencies and the
# litestream extra), in a layer of their own: rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['litestream']))" > /tmp/requirements.txt \
    && pip install --no-compile -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
# Compiled at build time, the catalogs from their .po files and every module to bytecode (the
# dependencies' too, with hashes the source is not checked against): a start reads .pyc files and
# never compiles, even where the platform sets PYTHONDONTWRITEBYTECODE.
RUN python -c "from pathlib import Path; from bot.i18n import compile_catalog; \
[po.with_suffix('.mo').write_bytes(compile_catalog(po)) for po in Path('locales').glob('*/LC_MESSAGES/bot.po')]" \
    && python -m compileall -q -j 0 --invalidation-mode unchecked-hash /app \
       "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && chmod 0755 deploy/entrypoint.sh

ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["python", "-m", "bot"]
