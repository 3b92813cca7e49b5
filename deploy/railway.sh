#!/bin/sh
# Deploy the bot to Railway with its ledger on a volume at /data: run from anywhere in the project,
#
#   deploy/railway.sh
#
# once to create everything, and again after each change to deploy it. Safe to run again: each
# step checks what exists first. Needs the Railway CLI, logged in (npm install -g @railway/cli,
# then railway login). The token is asked for once (or taken from BOT_TOKEN) and sent through
# stdin, never on a command line.
#
# Why a script: a volume cannot be declared in railway.json / railway.toml, and those files are
# being retired for a new config-as-code format (.railway/railway.ts, `railway config`).
#
# Settings: RAILWAY_PROJECT (default timebank), RAILWAY_SERVICE (default timebank-bot).
set -eu

project=${RAILWAY_PROJECT:-timebank}
service=${RAILWAY_SERVICE:-timebank-bot}
mount_path=/data
database_url=sqlite:////data/timebank.sqlite3

say() { printf '==> %s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 2; }

command -v railway >/dev/null 2>&1 ||
    fail "the Railway CLI is not installed: npm install -g @railway/cli (or brew install railway), then railway login"
railway whoami >/dev/null 2>&1 || fail "not logged in to Railway: run railway login, then this again"
cd "$(dirname -- "$0")/.."

# 1. A project, linked to this folder.
if railway status --json >/dev/null 2>&1; then
    say "project: already linked"
else
    say "project: creating $project"
    railway init --name "$project"
fi

# 2. The service, empty at first (step 5 uploads this folder; Railway builds the Dockerfile).
if railway service list --json | grep -q "\"name\": *\"$service\""; then
    say "service: $service exists"
else
    say "service: creating $service"
    railway add --service "$service"
fi
railway service link "$service" >/dev/null

# 3. Its variables: the token (once), the database on the volume, and 10 s between SIGTERM and
#    SIGKILL at a redeploy (the bot needs under 5).
if railway variable list --service "$service" --kv | grep -q '^BOT_TOKEN='; then
    say "BOT_TOKEN: already set (change it with: railway variable set BOT_TOKEN --stdin)"
else
    token=${BOT_TOKEN:-}
    if [ -z "$token" ]; then
        [ -t 0 ] || fail "BOT_TOKEN is not set on Railway: run BOT_TOKEN=123456:ABC... $0"
        printf 'The token @BotFather gave you: '
        stty -echo
        read -r token
        stty echo
        printf '\n'
    fi
    [ -n "$token" ] || fail "no token given"
    say "BOT_TOKEN: setting it"
    printf '%s' "$token" | railway variable set BOT_TOKEN --stdin --service "$service" --skip-deploys
fi
say "DATABASE_URL=$database_url"
railway variable set "DATABASE_URL=$database_url" "RAILWAY_DEPLOYMENT_DRAINING_SECONDS=10" \
    --service "$service" --skip-deploys >/dev/null

# 4. The volume at /data (Railway mounts it owned by root; the container gives it to the bot's user).
if railway volume --service "$service" list --json | grep -q "\"mountPath\": *\"$mount_path\""; then
    say "volume: mounted at $mount_path"
else
    say "volume: adding one at $mount_path"
    railway volume --service "$service" add --mount-path "$mount_path"
fi

# 5. Deploy this folder. Railway stops the old deployment before starting one with the volume.
say "deploying"
railway up --service "$service" --detach
say "done: railway logs --service $service shows the bot starting ('long polling: @...')"
