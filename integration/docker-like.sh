#!/usr/bin/env bash
# A Dockerfile's RUN lines, as root with HOME=/root and no USER (what
# `docker build` gives), mixing Debian's luarocks and rockstore on one
# machine-wide tree:
#   RUN luarocks install purelua && luarocks install dmdep   -> /usr/local
#   RUN rockstore install appx            (adopts /usr/local on first touch)
#   RUN rockstore --local install upg     (~/.luarocks: root without USER)
#   RUN luarocks remove dmdep             (LuaRocks changes it afterwards)
#   RUN lua5.4 -e 'require ...'           (everything loads; dmdep is gone)
# and a second rockstore command afterwards takes in LuaRocks' remove; a
# store on a mount point (a cache mount) works too.
#
# It never touches the real machine: it re-runs itself in a private mount
# namespace (unshare -m) where /usr/local and /root are overlays whose
# writes go to a tmpfs, and so are /var/lib (no /var/lib/rockstore in it)
# and /etc/luarocks (Debian's stock config written anew). The rocks come from the
# fixtures under integration/rocks/, served from 127.0.0.1.
#
# Usage (as root): integration/docker-like.sh ROCKSTORE_BINARY
# Needs: unshare (util-linux), python3, lua5.4, luarocks, gcc, md5sum, tar.
set -euo pipefail

BIN=${1:?usage: docker-like.sh ROCKSTORE_BINARY}
BIN=$(realpath "$BIN")
HERE=$(cd "$(dirname "$0")" && pwd)
SELF="$HERE/$(basename "$0")"

if [ "${DOCKER_LIKE_INSIDE:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "docker-like.sh: needs root (a mount namespace)" >&2; exit 2; }
  # A scratch directory outside every path the namespace covers.
  SCRATCH=$(mktemp -d /tmp/rockstore-docker-like.XXXXXX)
  trap 'rm -rf "$SCRATCH"' EXIT
  # What the real machine has before, to prove afterwards it is unchanged.
  snapshot() {
    { ls -la --time-style=full-iso /var/lib /root /root/.cache
      ls -laR --time-style=full-iso /usr/local /etc/luarocks /root/.luarocks /root/.cache/luarocks /var/lib/rockstore || true; } 2>&1 | md5sum
  }
  before=$(snapshot)
  status=0
  DOCKER_LIKE_INSIDE=1 SCRATCH="$SCRATCH" unshare -m --propagation private \
    env -u USER HOME=/root "$SELF" "$BIN" || status=$?
  after=$(snapshot)
  if [ "$before" != "$after" ]; then
    echo "docker-like.sh: FAIL: the real machine changed" >&2
    exit 1
  fi
  exit "$status"
fi

# --- inside the namespace -------------------------------------------------
: "${SCRATCH:?}"
mount -t tmpfs tmpfs "$SCRATCH"
overlay() { # DIR NAME: writes to DIR land in the scratch tmpfs
  mkdir -p "$SCRATCH/$2/upper" "$SCRATCH/$2/work"
  mount -t overlay overlay \
    -o "lowerdir=$1,upperdir=$SCRATCH/$2/upper,workdir=$SCRATCH/$2/work" "$1"
}
# /var/lib whole: rockstore makes its store beside /var/lib/rockstore and
# renames it into place.
overlay /usr/local usrlocal
overlay /root root
overlay /var/lib varlib
overlay /etc/luarocks etcluarocks
# Never go on unless each is this namespace's overlay.
for d in /usr/local /root /var/lib /etc/luarocks; do
  [ "$(findmnt -n -o FSTYPE --mountpoint "$d")" = overlay ] || { echo "docker-like.sh: $d is not an overlay" >&2; exit 2; }
done
# A fresh image: no rocks, no store, no user tree.
rm -rf /usr/local/lib/luarocks /usr/local/share/lua /usr/local/lib/lua /root/.luarocks \
  /root/.cache/luarocks /var/lib/rockstore /etc/luarocks/*
# Debian 12's stock /etc/luarocks (package luarocks 3.8.0+dfsg1-1).
for f in config.lua config-5.1.lua config-5.2.lua config-5.3.lua config-5.4.lua; do
  printf 'rocks_trees = {\n   home..[[/.luarocks]],\n   [[/usr/local]]\n}\n' >"/etc/luarocks/$f"
done

# The rocks server: fixture tarballs and rockspecs on 127.0.0.1.
REPO="$SCRATCH/repo"
mkdir -p "$REPO"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
ROCKS=(purelua-1.0 dmdep-1.0 cmulti-1.0 appx-1.0 upg-1.0)
entries=""
for dir in "${ROCKS[@]}"; do
  tar -C "$HERE/rocks" -czf "$REPO/$dir.tar.gz" "$dir"
  md5=$(md5sum "$REPO/$dir.tar.gz" | cut -d' ' -f1)
  spec="$dir-1.rockspec"
  sed -e "s|@BASE@|$BASE|g" -e "s|@MD5:$dir.tar.gz@|$md5|g" "$HERE/rocks/specs/$spec" >"$REPO/$spec"
  name=${dir%-*} version=${dir##*-}
  entries+="   [\"$name\"] = { [\"$version-1\"] = { { arch = \"rockspec\" } } },"$'\n'
done
for v in 5.1 5.4; do
  printf 'commands = {}\nmodules = {}\nrepository = {\n%s}\n' "$entries" >"$REPO/manifest-$v"
done
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$REPO" >/dev/null 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null' EXIT
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),0.2)" 2>/dev/null && break
  sleep 0.1
done
# Every command is pointed at it, as a Dockerfile points at a mirror.
ONLY=(--only-server "$BASE")
step() { echo "== RUN $*"; "$@"; }
fail() { echo "docker-like.sh: FAIL: $*" >&2; exit 1; }

step luarocks --lua-version 5.4 "${ONLY[@]}" install purelua
step luarocks --lua-version 5.4 "${ONLY[@]}" install dmdep
out=$(step "$BIN" --lua-version 5.4 "${ONLY[@]}" install appx 2>&1) || fail "rockstore install: $out"
echo "$out"
[ -e /usr/local/lib/lua/5.4/cmulti.so ] || fail "rockstore did not install into /usr/local"
out=$(step "$BIN" --lua-version 5.4 "${ONLY[@]}" --local install upg 2>&1) || fail "rockstore --local install: $out"
echo "$out"
[ -e /root/.luarocks/share/lua/5.4/upg.lua ] || fail "--local did not install into /root/.luarocks"
step luarocks --lua-version 5.4 remove dmdep
step luarocks --lua-version 5.4 list
# What the image's users run: lua5.4 finds /usr/local by itself; the user
# tree through `luarocks path`, as a profile script does.
eval "$(luarocks --lua-version 5.4 path)"
step lua5.4 -e '
  local p = require "purelua"; local a = require "appx"
  local c = require "cmulti"; local u = require "upg"
  assert(type(p) == "table" and a and c and u.v == "1.0")
  assert(not pcall(require, "dmdep"), "dmdep was removed")
  print("everything loads")'
step appx-cli >/dev/null
# rockstore after LuaRocks' remove: it takes the change in, and the tree
# stays whole for both tools.
step "$BIN" --lua-version 5.4 "${ONLY[@]}" install dmdep
step luarocks --lua-version 5.4 list --porcelain | grep -q '^dmdep' || fail "luarocks does not see dmdep"
lua5.4 -e 'require "dmdep"; require "cmulti"; require "purelua"' || fail "the tree does not load"
# A store on a volume (`RUN --mount=type=cache,target=...`): an empty
# mount point, which rockstore cannot rename its new store onto.
mkdir /var/lib/rockstore-volume
mount -t tmpfs tmpfs /var/lib/rockstore-volume
step "$BIN" --store /var/lib/rockstore-volume --tree /root/volume-tree --lua-version 5.4 "${ONLY[@]}" install purelua
[ -e /root/volume-tree/share/lua/5.4/purelua/init.lua ] || fail "no install with the store on a volume"
echo "docker-like.sh: ok"
