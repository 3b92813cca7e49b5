#!/bin/sh
# The container's entrypoint: deploy/entrypoint.sh COMMAND... (the Dockerfile's CMD is `python -m bot`).
#
# 1. Started as root (the default) with TIMEBANK_USER set (the Dockerfile sets it to "bot"): give the
#    database's folder to that user (platforms mount volumes owned by root), then run this script
#    again as that user. Nothing else ever runs as root.
# 2. With LITESTREAM_REPLICA_URL set (an S3-compatible bucket, or file:///path for a local replica):
#    restore the database from the replica if there is none on the volume yet, then run COMMAND
#    under `litestream replicate -exec`, which streams every change to the replica and passes
#    SIGTERM on to the bot. Without it: run COMMAND.
set -eu

database_url=${DATABASE_URL:-sqlite:///timebank.sqlite3}
database=${database_url#sqlite:///}
folder=$(dirname -- "$database")

if [ "$(id -u)" = 0 ] && [ -n "${TIMEBANK_USER:-}" ]; then
    mkdir -p -- "$folder"
    # The folder and the database's own files (a few; never a walk through a big volume).
    chown "$TIMEBANK_USER:" "$folder"
    for file in "$database" "$database-wal" "$database-shm" "$folder"/.*-litestream; do
        if [ -e "$file" ]; then chown -R "$TIMEBANK_USER:" "$file"; fi
    done
    # Drop root: the user's ids, no supplementary groups, then this script again with the same arguments.
    exec python -I -S -c '
import os, pwd, sys
user = pwd.getpwnam(sys.argv[1])
os.setgroups([])
os.setgid(user.pw_gid)
os.setuid(user.pw_uid)
os.environ["HOME"] = user.pw_dir
os.environ.pop("TIMEBANK_USER")
os.execv(sys.argv[2], sys.argv[2:])
' "$TIMEBANK_USER" "$0" "$@"
fi

if [ -n "${LITESTREAM_REPLICA_URL:-}" ]; then
    config=${LITESTREAM_CONFIG:-$(dirname -- "$0")/litestream.yml}
    export LITESTREAM_DATABASE="$database"
    # A volume with no database yet (a new machine, a lost volume): take it from the replica, if it has one.
    litestream restore -config "$config" -if-db-not-exists -if-replica-exists "$database"
    # litestream runs the command through its own word splitting: quote each argument.
    command=""
    for argument in "$@"; do
        command="$command '$(printf '%s' "$argument" | sed "s/'/'\\\\''/g")'"
    done
    exec litestream replicate -config "$config" -exec "$command"
fi

exec "$@"
