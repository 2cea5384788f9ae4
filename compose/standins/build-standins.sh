#!/usr/bin/env bash
# Builds local stand-ins for the base images compose/ uses, for machines that cannot reach a
# container registry (CI here). Each stand-in is a minimal root file system assembled from this
# host's own Debian binaries (with the shared libraries `ldd` lists) and imported with
# `docker import`; it offers the same interface the compose files rely on:
#
#   xplicit-standin/bun:local       /usr/local/bin/bun, /bin/sh, user "bun"        (for oven/bun:*-alpine)
#   xplicit-standin/nginx:local     nginx on PATH, /bin/sh                          (for nginx:*-alpine)
#   xplicit-standin/postgres:local  POSTGRES_USER/PASSWORD/DB, PGDATA volume,       (for postgres:*-alpine)
#                                   pg_isready on PATH
#   xplicit-standin/redis:local     redis-server, redis-cli, /data, user "redis"    (for redis:*-alpine)
#
# Usage: compose/standins/build-standins.sh [bun|nginx|postgres|redis ...]   (default: all four)
# Needs: docker, ldd, and on the host: bun (node_modules), nginx, postgresql-15, redis-server.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
WORK=$REPO/.tmp/standins
TAG=${STANDIN_TAG:-local}
mkdir -p "$WORK"

die() { echo "build-standins: $*" >&2; exit 1; }

# copy FILE... into the root file system ROOT, with every shared library they load.
copy_with_libs() {
  local root=$1; shift
  local f lib
  for f in "$@"; do
    [ -e "$f" ] || die "missing on this host: $f"
    mkdir -p "$root$(dirname "$f")"
    cp -L "$f" "$root$f"
    for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true); do
      [ -e "$root$lib" ] && continue
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  done
}

# A minimal Debian-like root: sh, a few core utilities, users, /tmp.
base_root() {
  local root=$1
  rm -rf "$root"
  mkdir -p "$root"/{bin,etc,tmp,usr/bin,usr/local/bin,var/run,root}
  chmod 1777 "$root/tmp"
  copy_with_libs "$root" /bin/sh /bin/dash /usr/bin/env /usr/bin/mkdir /usr/bin/cat /usr/bin/ls /usr/bin/rm /usr/bin/cp \
    /usr/bin/chmod /usr/bin/id /usr/bin/sleep /usr/bin/mktemp /usr/bin/ln /usr/bin/printf
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
bun:x:1000:1000:bun:/home/bun:/bin/sh
postgres:x:70:70:postgres:/var/lib/postgresql:/bin/sh
redis:x:999:1000:redis:/data:/bin/sh
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nobody:x:65534:
bun:x:1000:
postgres:x:70:
redis:x:999:
EOF
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
}

import_root() {
  local root=$1 image=$2; shift 2
  local changes=()
  for c in "$@"; do changes+=(--change "$c"); done
  tar -C "$root" --numeric-owner -c . | docker import "${changes[@]}" - "$image" >/dev/null
  echo "build-standins: built $image"
}

build_bun() {
  local root=$WORK/bun
  base_root "$root"
  local bin=$REPO/node_modules/bun/bin/bun.exe
  [ -x "$bin" ] || die "no bun binary at $bin (npm ci installs it)"
  copy_with_libs "$root" "$bin"
  mv "$root$bin" "$root/usr/local/bin/bun"
  rm -rf "$root$REPO"
  ln -s bun "$root/usr/local/bin/bunx"
  mkdir -p "$root/home/bun/app"
  chown -R 1000:1000 "$root/home/bun"
  import_root "$root" "xplicit-standin/bun:$TAG" \
    'ENV PATH=/usr/local/bin:/usr/bin:/bin' 'WORKDIR /home/bun/app' 'CMD ["/usr/local/bin/bun"]'
}

build_nginx() {
  local root=$WORK/nginx
  base_root "$root"
  copy_with_libs "$root" "$(command -v nginx)"
  mkdir -p "$root/var/log/nginx" "$root/var/lib/nginx" "$root/usr/share/nginx" "$root/etc/nginx" "$root/var/cache/nginx"
  ln -sf /dev/stderr "$root/var/log/nginx/error.log"
  ln -sf /dev/stdout "$root/var/log/nginx/access.log"
  import_root "$root" "xplicit-standin/nginx:$TAG" \
    'ENV PATH=/usr/sbin:/usr/local/bin:/usr/bin:/bin' 'CMD ["nginx", "-g", "daemon off;"]'
}

build_postgres() {
  local root=$WORK/postgres
  base_root "$root"
  local v
  v=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
  [ -n "$v" ] || die "PostgreSQL is not installed on this host (/usr/lib/postgresql)"
  local pgbin=/usr/lib/postgresql/$v/bin
  copy_with_libs "$root" "$pgbin/postgres" "$pgbin/initdb" "$pgbin/pg_ctl" "$pgbin/pg_isready" "$pgbin/psql" "$pgbin/createdb"
  copy_with_libs "$root" /usr/lib/postgresql/"$v"/lib/*.so
  mkdir -p "$root/usr/share/postgresql" "$root/usr/share/zoneinfo"
  cp -a "/usr/share/postgresql/$v" "$root/usr/share/postgresql/"
  cp -a /usr/share/zoneinfo/. "$root/usr/share/zoneinfo/"
  mkdir -p "$root/var/lib/postgresql/data" "$root/var/run/postgresql"
  chown -R 70:70 "$root/var/lib/postgresql" "$root/var/run/postgresql"
  chmod 700 "$root/var/lib/postgresql/data"
  # Same interface as the official image's entrypoint (the parts compose uses).
  cat >"$root/usr/local/bin/docker-entrypoint.sh" <<EOF
#!/bin/sh
set -eu
PGBIN=$pgbin
PGDATA=\${PGDATA:-/var/lib/postgresql/data}
if [ "\${1:-postgres}" != "postgres" ]; then exec "\$@"; fi
[ \$# -gt 0 ] && shift
if [ ! -s "\$PGDATA/PG_VERSION" ]; then
  : "\${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
  user=\${POSTGRES_USER:-postgres}
  pw=\$(mktemp)
  printf '%s\n' "\$POSTGRES_PASSWORD" >"\$pw"
  "\$PGBIN/initdb" -D "\$PGDATA" -U "\$user" --pwfile="\$pw" --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >/dev/null
  rm -f "\$pw"
  printf 'host all all all scram-sha-256\n' >>"\$PGDATA/pg_hba.conf"
  db=\${POSTGRES_DB:-\$user}
  if [ "\$db" != "postgres" ]; then
    "\$PGBIN/pg_ctl" -D "\$PGDATA" -o "-c listen_addresses= -c unix_socket_directories=/tmp" -w start >/dev/null
    "\$PGBIN/createdb" -h /tmp -U "\$user" "\$db"
    "\$PGBIN/pg_ctl" -D "\$PGDATA" -m fast -w stop >/dev/null
  fi
  echo "postgres stand-in: initialised \$PGDATA (user \$user, database \$db)"
fi
exec "\$PGBIN/postgres" -D "\$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "\$@"
EOF
  chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
  import_root "$root" "xplicit-standin/postgres:$TAG" \
    "ENV PATH=$pgbin:/usr/local/bin:/usr/bin:/bin" 'ENV PGDATA=/var/lib/postgresql/data' 'USER postgres' \
    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' 'CMD ["postgres"]'
}

build_redis() {
  local root=$WORK/redis
  base_root "$root"
  copy_with_libs "$root" /usr/bin/redis-check-rdb /usr/bin/redis-cli
  ln -s redis-check-rdb "$root/usr/bin/redis-server"
  mkdir -p "$root/data"
  chown 999:1000 "$root/data"
  import_root "$root" "xplicit-standin/redis:$TAG" \
    'ENV PATH=/usr/local/bin:/usr/bin:/bin' 'USER redis' 'WORKDIR /data' 'CMD ["redis-server"]'
}

command -v docker >/dev/null || die "docker is not installed"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(bun nginx postgres redis)
for t in "${targets[@]}"; do
  case $t in
    bun) build_bun ;;
    nginx) build_nginx ;;
    postgres) build_postgres ;;
    redis) build_redis ;;
    *) die "unknown stand-in: $t (bun, nginx, postgres, redis)" ;;
  esac
done
