#!/usr/bin/env bash
# The scale-out topology of docker-compose.yml on one machine, without
# Docker: three nats-server nodes in one cluster (deploy/nats/nats.conf,
# R3 streams) and two `latchkey serve --replicas 3` replicas sharing it.
#
#   deploy/local-cluster.sh start [DIR]   build, write secrets and configs into DIR, start, wait until ready
#   deploy/local-cluster.sh stop [DIR]    stop every process started in DIR
#   deploy/local-cluster.sh status [DIR]  which processes of DIR run
#
# DIR defaults to ./local-cluster. Secrets are generated once into
# DIR/env (0600) and reused by the next start; delete DIR to start afresh.
# Ports (all on 127.0.0.1): NATS clients LK_NATS_PORT..+2 (default 14222),
# routes +1000, monitoring +4000; Latchkey LK_HTTP_PORT and +1 (default
# 8080). LATCHKEY_BIN and NATS_SERVER_BIN, when set, are used instead of
# building (the multi-process test sets them); LK_LOG_LEVEL sets the
# replicas' log level (default info).
set -euo pipefail

cmd=${1:-}
dir=${2:-./local-cluster}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
nats_port=${LK_NATS_PORT:-14222}
http_port=${LK_HTTP_PORT:-8080}

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
  exit 2
}

secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; } # hex: safe in URLs

# build puts latchkey and nats-server (from the Go module, the version
# go.mod names) into DIR/bin, unless given.
build() {
  mkdir -p "$dir/bin"
  if [ -z "${LATCHKEY_BIN:-}" ]; then
    (cd "$root" && go build -o "$dir/bin/latchkey" ./cmd/latchkey)
    LATCHKEY_BIN=$dir/bin/latchkey
  fi
  if [ -z "${NATS_SERVER_BIN:-}" ]; then
    (cd "$root" && go build -o "$dir/bin/nats-server" github.com/nats-io/nats-server/v2)
    NATS_SERVER_BIN=$dir/bin/nats-server
  fi
}

# secrets writes DIR/env once: the variables docker-compose.yml asks for.
secrets() {
  if [ ! -f "$dir/env" ]; then
    (
      umask 077
      {
        echo "LATCHKEY_MASTER_KEY=$(head -c 32 /dev/urandom | base64)"
        echo "LATCHKEY_BOOTSTRAP_CLIENT_SECRET=$(secret)$(secret)"
        echo "LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD=$(secret)"
        echo "LATCHKEY_NATS_PASSWORD=$(secret)"
        echo "ACME_RS_NATS_PASSWORD=$(secret)"
        echo "NATS_ROUTE_PASSWORD=$(secret)"
      } >"$dir/env"
    )
  fi
  set -a
  # shellcheck disable=SC1091
  . "$dir/env"
  set +a
  for i in 1 2 3; do
    export "NATS_ROUTE_$i=nats-route://route:${NATS_ROUTE_PASSWORD}@127.0.0.1:$((nats_port + 1000 + i - 1))"
  done
}

# launch starts a process in the background, its output in DIR/logs and
# its pid in DIR/run/NAME.pid.
launch() {
  local name=$1
  shift
  setsid "$@" >>"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/run/$name.pid"
}

running() { [ -f "$dir/run/$1.pid" ] && kill -0 "$(cat "$dir/run/$1.pid")" 2>/dev/null; }

start_nats() {
  local i=$1 name=nats-$1
  running "$name" && return
  mkdir -p "$dir/$name"
  # deploy/nats/nats.conf as compose uses it; the flags move its ports to
  # this node's own.
  NATS_STORE_DIR=$dir/$name launch "$name" "$NATS_SERVER_BIN" --config "$root/deploy/nats/nats.conf" --name "$name" \
    -p $((nats_port + i - 1)) -m $((nats_port + 4000 + i - 1)) \
    --cluster_listen "nats://127.0.0.1:$((nats_port + 1000 + i - 1))"
}

nats_urls() {
  echo "nats://127.0.0.1:$nats_port,nats://127.0.0.1:$((nats_port + 1)),nats://127.0.0.1:$((nats_port + 2))"
}

start_latchkey() {
  local i=$1 name=latchkey-$1 port=$((http_port + $1 - 1))
  running "$name" && return
  mkdir -p "$dir/$name"
  launch "$name" "$LATCHKEY_BIN" serve --http "127.0.0.1:$port" --nats-url "$(nats_urls)" --replicas 3 \
    --public-url "http://127.0.0.1:$http_port" --data "$dir/$name" --log-level "${LK_LOG_LEVEL:-info}"
}

wait_ready() {
  local url=$1 what=$2 deadline=$((SECONDS + ${LK_START_WAIT:-120}))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if ! running "$what"; then
      echo "$what exited; see $dir/logs/$what.log:" >&2
      tail -n 20 "$dir/logs/$what.log" >&2
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "$what is not ready at $url; see $dir/logs" >&2
      exit 1
    fi
    sleep 0.2
  done
}

start() {
  mkdir -p "$dir/logs" "$dir/run"
  build
  secrets
  for i in 1 2 3; do start_nats "$i"; done
  for i in 1 2 3; do wait_ready "http://127.0.0.1:$((nats_port + 4000 + i - 1))/healthz" "nats-$i"; done
  # Both replicas at once, as a load balancer's pool would start.
  for i in 1 2; do start_latchkey "$i"; done
  for i in 1 2; do wait_ready "http://127.0.0.1:$((http_port + i - 1))/readyz" "latchkey-$i"; done
  cat <<EOF
Latchkey cluster running from $dir:
  latchkey-1  http://127.0.0.1:$http_port   (issuer http://127.0.0.1:$http_port/realms/<realm>)
  latchkey-2  http://127.0.0.1:$((http_port + 1))
  NATS        $(nats_urls)   (user latchkey; password in $dir/env)
  admin       client latchkey-admin of realm master; secret: LATCHKEY_BOOTSTRAP_CLIENT_SECRET in $dir/env
  console     http://127.0.0.1:$http_port/console/master/   (user admin; password: LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD in $dir/env)
  logs        $dir/logs/
Stop:         $0 stop $dir
EOF
}

stop() {
  [ -d "$dir/run" ] || return 0
  local f pid
  # Latchkey first, so that it drains while NATS still runs.
  for f in "$dir"/run/latchkey-*.pid "$dir"/run/nats-*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$f"
  done
}

status() {
  local name
  for name in nats-1 nats-2 nats-3 latchkey-1 latchkey-2; do
    if running "$name"; then echo "$name running (pid $(cat "$dir/run/$name.pid"))"; else echo "$name stopped"; fi
  done
}

case $cmd in
start) start ;;
stop) stop ;;
status) status ;;
*) usage ;;
esac
