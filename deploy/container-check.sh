#!/bin/sh
# Builds the image from the Dockerfile with podman and serves it against the local
# PostgreSQL and Redis, on a machine with no image registry: the base is made from Debian's
# packages (debootstrap). Needs root, podman and debootstrap (apt-get install podman
# debootstrap). `make container-check` runs it; it takes a few minutes, so `make test` does not.
#
# Where podman cannot start containers (no cgroup or setrlimit permission, as in some
# sandboxes), the built image's file system is run with chroot instead: that checks the
# image's contents (migrations, the server, /healthz, static files, a draining stop), not
# the container runtime.
set -eu
ROOTFS=${ROOTFS:-/tmp/webchat-debian-rootfs}
BASE=localhost/webchat-base:bookworm
IMAGE=localhost/webchat:check
PORT=${PORT:-8090}
DB=webchat_image_check

if ! podman image exists "$BASE"; then
    rm -rf "$ROOTFS"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$ROOTFS" http://deb.debian.org/debian
    tar -C "$ROOTFS" -c . | podman import - "$BASE"
fi
# The machine's certificate bundle and pip settings reach the build (its package proxy).
podman build --isolation=chroot --network host \
    -v /etc/ssl/certs:/etc/ssl/certs:ro $( [ -f /etc/pip.conf ] && echo -v /etc/pip.conf:/etc/pip.conf:ro ) \
    --build-arg BASE="$BASE" -t "$IMAGE" .

psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
ENV="SECRET_KEY=check-$(date +%s)-0123456789abcdefghijklmnopqrstuvwxyz0123456789
DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
REDIS_URL=redis://127.0.0.1:6379/7
ALLOWED_HOSTS=127.0.0.1"
CMD="python manage.py migrate --noinput && exec python -m webchat.serve --bind 127.0.0.1 --port $PORT webchat.asgi:application"

if podman run --rm --network host --cgroups=disabled --entrypoint true "$IMAGE" 2>/dev/null; then
    podman run -d --name webchat-check --network host $(echo "$ENV" | sed 's/^/-e /') \
        "$IMAGE" sh -c "$CMD"
    stop() { podman stop -t 75 webchat-check; podman rm webchat-check; }
else
    echo "podman cannot start containers here: running the image's file system with chroot"
    MOUNT=$(podman image mount "$IMAGE")
    mount -t proc proc "$MOUNT/proc"
    chroot "$MOUNT" /usr/bin/env -i PATH=/opt/venv/bin:/usr/bin:/bin \
        STATIC_ROOT=/srv/webchat/staticfiles $ENV \
        sh -c "cd /srv/webchat && $CMD" &
    stop() {
        pkill -TERM -f "webchat.serve --bind 127.0.0.1 --port $PORT"; sleep 2
        umount "$MOUNT/proc"; podman image unmount "$IMAGE" >/dev/null
    }
fi

ok=1
for _ in $(seq 60); do
    if curl -sf "http://127.0.0.1:$PORT/healthz"; then ok=0; break; fi
    sleep 1
done
echo
[ $ok -eq 0 ] && curl -sf -o /dev/null "http://127.0.0.1:$PORT/accounts/login/" \
    && curl -sf -o /dev/null "http://127.0.0.1:$PORT/static/css/app.css" || ok=1
stop
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB"
[ $ok -eq 0 ] && echo "container check: the image serves (healthz, a page, static files)" \
    || { echo "container check FAILED" >&2; exit 1; }
