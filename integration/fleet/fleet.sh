#!/usr/bin/env bash
# A fleet of rockstore hosts on one machine, sharing one binary cache.
#
# Each host is a network namespace with its own veth into a bridge, its own
# store, HOME and tree. The rocks server and the cache (nginx with WebDAV,
# or SeaweedFS's S3 gateway) run in the root namespace on the bridge's
# address. Every host compiles through a wrapper CC that counts its runs.
#
# Scenarios:
#   seeded  host 1 installs and pushes; then hosts 2..N install at once,
#           substituting (expect 0 compiler runs on them).
#   cold    all hosts start at once on an empty cache, each pushing what it
#           builds: with build leases (S3), each recipe is compiled once, by
#           the host that claims it; nginx's WebDAV cannot refuse a second
#           writer, so there every host builds (and says so once).
#
# Prints one line per host and a summary; exits 1 if any host failed or its
# tree does not load. Cleans up every namespace, link and process it made.
# Needs root, iproute2, python3, lua5.4, and nginx or weed.
#
# Usage: fleet.sh --bin ROCKSTORE --repo DIR --rock ROCK --check LUA
#                 [--hosts N] [--engine nginx|s3] [--scenario seeded|cold]
#                 [--rewrite-base URL] [--timeout SECONDS] [--work DIR]
#                 [--lease-timeout SECONDS] [--delay-ms MS] [--delay-what all|cache]
#
# --delay-ms MS puts delay_proxy.py (next to this script) in front of the
# rocks server and the cache (--delay-what cache: the cache only): MS more
# latency each way, so each round trip costs 2 x MS more (the machine has
# `tc tbf` but not `netem`).
set -euo pipefail

HOSTS=8 ENGINE=nginx SCENARIO=seeded TIMEOUT=600 BIN= REPO= ROCK= CHECK= REWRITE= WORK= LEASE=60 DELAY=0 DELAY_WHAT=all
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) HOSTS=$2; shift 2 ;;
    --engine) ENGINE=$2; shift 2 ;;
    --scenario) SCENARIO=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --repo) REPO=$2; shift 2 ;;
    --rock) ROCK=$2; shift 2 ;;
    --check) CHECK=$2; shift 2 ;;
    --rewrite-base) REWRITE=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --lease-timeout) LEASE=$2; shift 2 ;;
    --delay-ms) DELAY=$2; shift 2 ;;
    --delay-what) DELAY_WHAT=$2; shift 2 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "fleet.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
for v in BIN REPO ROCK CHECK; do
  [ -n "${!v}" ] || { echo "fleet.sh: --$(echo "$v" | tr A-Z a-z) is required" >&2; exit 2; }
done
[ "$HOSTS" -ge 1 ] && [ "$HOSTS" -le 200 ] || { echo "fleet.sh: 1..200 hosts" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "fleet.sh: needs root (network namespaces)" >&2; exit 2; }

# Names unique to this run: two fleets never share a namespace or a link.
TAG=$(printf 'f%x' $$ | tail -c 6)
BR="rs${TAG}b"
NET=10.$((100 + $$ % 100)).$((($$ / 100) % 250))
GW="$NET.1"
WORK=${WORK:-$(mktemp -d /tmp/rockstore-fleet.XXXXXX)}
mkdir -p "$WORK"
chmod 755 "$WORK"
# No host reads this machine's /etc/luarocks: an empty config directory.
export LUAROCKS_SYSCONFDIR="$WORK/etc-luarocks"
mkdir -p "$LUAROCKS_SYSCONFDIR"
PIDS=()

cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  # SeaweedFS's `weed mini` may ignore SIGTERM while it shuts down (its
  # address going away under it): 10 s, bounded, then SIGKILL.
  for _ in $(seq 1 100); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  for i in $(seq 1 "$HOSTS"); do
    ns="rs${TAG}h$i"
    if ip netns list | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
      ip netns del "$ns"
    fi
  done
  ip link del "$BR" 2>/dev/null
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits, bounded, until $1:$2 accepts connections.
wait_port() {
  for _ in $(seq 1 600); do
    if python3 -c "import socket,sys; socket.create_connection(('$1',$2),0.2)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "fleet.sh: nothing listens on $1:$2 after 60 s" >&2
  return 1
}

# The network: a bridge in the root namespace, a veth per host.
ip link add "$BR" type bridge
ip addr add "$GW/16" dev "$BR"
ip link set "$BR" up
for i in $(seq 1 "$HOSTS"); do
  ns="rs${TAG}h$i"
  ip netns add "$ns"
  ip link add "rs${TAG}a$i" type veth peer name "rs${TAG}p$i"
  ip link set "rs${TAG}p$i" netns "$ns"
  ip link set "rs${TAG}a$i" master "$BR" up
  ip netns exec "$ns" ip addr add "$NET.$((i + 1))/16" dev "rs${TAG}p$i"
  ip netns exec "$ns" ip link set "rs${TAG}p$i" up
  ip netns exec "$ns" ip link set lo up
done

# With --delay-ms: a delaying proxy on the bridge in front of $1:$2; sets
# SEEN_PORT to the port hosts use.
HERE=$(cd "$(dirname "$0")" && pwd)
delayed_port() {
  SEEN_PORT=$2
  [ "$DELAY" != 0 ] || return 0
  SEEN_PORT=$(free_port)
  python3 "$HERE/delay_proxy.py" "$GW" "$SEEN_PORT" "$1" "$2" "$DELAY" >/dev/null 2>&1 &
  PIDS+=($!)
  wait_port "$GW" "$SEEN_PORT"
}

# The rocks server: the repository as given, its rockspecs naming this
# fleet's address.
mkdir -p "$WORK/repo"
cp -a "$REPO/." "$WORK/repo/"
REPO_PORT=$(free_port)
SEEN_PORT=$REPO_PORT
[ "$DELAY_WHAT" = cache ] || delayed_port "$GW" "$REPO_PORT"
REPO_URL="http://$GW:$SEEN_PORT"
if [ -n "$REWRITE" ]; then
  find "$WORK/repo" -name '*.rockspec' -exec sed -i "s|$REWRITE|$REPO_URL|g" {} +
fi
python3 -m http.server "$REPO_PORT" --bind "$GW" --directory "$WORK/repo" >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$GW" "$REPO_PORT"

# The cache.
ENV_S3=()
case "$ENGINE" in
  nginx)
    CACHE_PORT=$(free_port)
    mkdir -p "$WORK/nginx/root"
    cat > "$WORK/nginx/nginx.conf" <<CONF
user root;
daemon off;
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server {
    listen $GW:$CACHE_PORT;
    root $WORK/nginx/root;
    location / {
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
      client_max_body_size 0;
    }
  }
}
CONF
    /usr/sbin/nginx -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" &
    PIDS+=($!)
    wait_port "$GW" "$CACHE_PORT"
    delayed_port "$GW" "$CACHE_PORT"
    CACHE="http://$GW:$SEEN_PORT"
    ;;
  s3)
    mkdir -p "$WORK/weed/data"
    cat > "$WORK/weed/s3.json" <<'CONF'
{"identities":[{"name":"fleet","credentials":[{"accessKey":"FLEETKEY","secretKey":"fleet-secret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
CONF
    pick() { while :; do p=$(free_port); [ "$p" -lt 50000 ] && { echo "$p"; return; }; done; }
    M=$(pick) V=$(pick) F=$(pick) S3=$(pick) A=$(pick)
    (cd "$WORK/weed" && exec weed mini -dir="$WORK/weed/data" -ip="$GW" -ip.bind="$GW" \
      -master.port="$M" -volume.port="$V" -filer.port="$F" -s3.port="$S3" -admin.port="$A" \
      -admin.ui=false -webdav=false -master.telemetry=false -bucket=rocks \
      -s3.config="$WORK/weed/s3.json" >"$WORK/weed/log" 2>&1) &
    PIDS+=($!)
    wait_port "$GW" "$S3"
    delayed_port "$GW" "$S3"
    CACHE="s3://rocks/fleet?endpoint=http://$GW:$SEEN_PORT&region=us-east-1"
    ENV_S3=(AWS_ACCESS_KEY_ID=FLEETKEY AWS_SECRET_ACCESS_KEY=fleet-secret)
    ;;
  *) echo "fleet.sh: --engine nginx or s3" >&2; exit 2 ;;
esac

# One signing key for the fleet; one counting compiler for every host (the
# same path, so the same recipe keys).
"$BIN" cache keygen fleet-1 --out "$WORK/fleet-1.secret" > "$WORK/fleet-1.public"
PUBLIC=$(cat "$WORK/fleet-1.public")
cat > "$WORK/cc" <<'CC'
#!/bin/sh
echo "$@" >> "${CC_LOG:-/dev/null}"
exec gcc "$@"
CC
chmod 755 "$WORK/cc"

# A host's install: in its namespace, with its own HOME, store and tree.
install_on() {
  local i=$1; shift
  local h="$WORK/h$i"
  mkdir -p "$h/home"
  local start end
  start=$(date +%s.%N)
  set +e
  timeout "$TIMEOUT" ip netns exec "rs${TAG}h$i" env -i PATH="$PATH" HOME="$h/home" LUAROCKS_SYSCONFDIR="$LUAROCKS_SYSCONFDIR" \
    CC_LOG="$h/cc.log" "${ENV_S3[@]}" \
    "$BIN" --store "$h/store" --tree "$h/tree" --lua-version 5.4 --only-server "$REPO_URL" \
    install "$ROCK" --substituter "$CACHE" --trusted-public-key "$PUBLIC" \
    --lease-timeout "$LEASE" "$@" \
    "CC=$WORK/cc" >"$h/out" 2>&1
  echo $? > "$h/status"
  set -e
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.2f}')" > "$h/seconds"
}

PUSH=(--push-to "$CACHE" --secret-key-file "$WORK/fleet-1.secret")
fleet_start=$(date +%s.%N)
case "$SCENARIO" in
  seeded)
    install_on 1 "${PUSH[@]}"
    seeded_at=$(date +%s.%N)
    HOST_PIDS=()
    for i in $(seq 2 "$HOSTS"); do install_on "$i" & HOST_PIDS+=($!); done
    [ ${#HOST_PIDS[@]} -eq 0 ] || wait "${HOST_PIDS[@]}"
    ;;
  cold)
    HOST_PIDS=()
    for i in $(seq 1 "$HOSTS"); do install_on "$i" "${PUSH[@]}" & HOST_PIDS+=($!); done
    wait "${HOST_PIDS[@]}"
    ;;
  *) echo "fleet.sh: --scenario seeded or cold" >&2; exit 2 ;;
esac
fleet_end=$(date +%s.%N)

# The table.
failed=0
total_compiles=0
printf '%-6s %-6s %-9s %-8s %-6s %s\n' host exit compiles seconds lua items
for i in $(seq 1 "$HOSTS"); do
  h="$WORK/h$i"
  status=$(cat "$h/status")
  compiles=$(grep -c -- ' -c ' "$h/cc.log" 2>/dev/null || true)
  compiles=${compiles:-0}
  total_compiles=$((total_compiles + compiles))
  lua=fail
  if [ "$status" = 0 ] && (eval "$("$BIN" --lua-version 5.4 --tree "$h/tree" path)" && lua5.4 -e "$CHECK") >"$h/lua" 2>&1; then
    lua=ok
  fi
  items=$("$BIN" --store "$h/store" --lua-version 5.4 --tree "$h/tree" list --json 2>/dev/null \
    | python3 -c 'import json,sys,hashlib; print(hashlib.sha256(" ".join(sorted(r["item"] for r in json.load(sys.stdin))).encode()).hexdigest()[:12])' 2>/dev/null || echo none)
  [ "$status" = 0 ] && [ "$lua" = ok ] || failed=$((failed + 1))
  printf 'host%-2s %-6s %-9s %-8s %-6s %s\n' "$i" "$status" "$compiles" "$(cat "$h/seconds")" "$lua" "$items"
  if [ "$status" != 0 ] || [ "$lua" != ok ]; then sed 's/^/    /' "$h/out" "$h/lua" | tail -20; fi
done
# Each source file compiled, across the fleet: with leases, each recipe is
# built once, so no source is compiled twice.
distinct=$(python3 - "$WORK" "$HOSTS" <<'PY'
import os, re, sys
seen = set()
for i in range(1, int(sys.argv[2]) + 1):
    log = os.path.join(sys.argv[1], f"h{i}", "cc.log")
    if os.path.exists(log):
        for line in open(log):
            if " -c " in line:
                seen.update(os.path.basename(w) for w in line.split() if w.endswith(".c"))
print(len(seen))
PY
)
echo "sources: $total_compiles compiler runs of $distinct distinct sources"
if [ "$SCENARIO" = seeded ]; then
  python3 -c "print(f'seeded by host 1 in {$seeded_at - $fleet_start:.2f} s; hosts 2..$HOSTS together in {$fleet_end - $seeded_at:.2f} s')"
fi
python3 -c "print(f'fleet: {$HOSTS - $failed}/$HOSTS succeeded, {$total_compiles} compiler runs in all, {$fleet_end - $fleet_start:.2f} s wall')"
[ "$failed" = 0 ]
