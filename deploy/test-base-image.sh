#!/bin/sh
# A local stand-in for the Dockerfile's FROM image (python:3.12-slim), for machines that can reach
# Debian's packages but no container registry (the project's CI): Debian's minimal system made with
# debootstrap, with Python in a virtualenv at /usr/local, so that `python`, `pip` and
# /usr/local/lib/python3.X/site-packages are where the official image has them. Built once and
# kept in podman's image store; prints the image's name. The Dockerfile itself is unchanged: the
# test builds it with --build-arg PYTHON_IMAGE=<this image>. The machine's own certificate
# authorities go in too (a network that inspects TLS has its own), so pip inside trusts what
# pip outside trusts.
#
#   deploy/test-base-image.sh          # needs root, podman, runc and debootstrap (apt-get install)
set -eu

image=${TIMEBANK_BASE_IMAGE:-localhost/timebank-python-standin:bookworm-2}
suite=${TIMEBANK_BASE_SUITE:-bookworm}
mirror=${TIMEBANK_BASE_MIRROR:-http://deb.debian.org/debian}

if podman image exists "$image"; then
    echo "$image"
    exit 0
fi
root=$(mktemp -d /var/tmp/timebank-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates "$suite" "$root" "$mirror" >&2
chroot "$root" /usr/bin/python3 -m venv /usr/local >&2
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
cp /etc/ssl/certs/ca-certificates.crt "$root"/etc/ssl/certs/ca-certificates.crt
tar -C "$root" -c . | podman import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' \
    - "$image" >&2
echo "$image"
