#!/usr/bin/env bash
# Installs every Debian 12 package silod needs to build, run and test. Idempotent.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config git ca-certificates ccache
  libboost-dev libboost-system-dev
  libsqlite3-dev libsqlitecpp-dev
  postgresql libpqxx-dev libpq-dev
  libyaml-cpp-dev nlohmann-json3-dev libsodium-dev libssl-dev
  libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev googletest
  curl python3 procps
  clang libclang-rt-14-dev
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js runs the npm `eventsource` client of the event-stream tests. A machine may already
# have Node from another package source (which bundles npm): only install what is missing.
node_missing=()
command -v node >/dev/null 2>&1 || node_missing+=(nodejs)
command -v npm >/dev/null 2>&1 || node_missing+=(npm)
if ((${#node_missing[@]})); then
  echo "install-deps: installing ${node_missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${node_missing[@]}" >/dev/null
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$ROOT/tests/node/node_modules/.package-lock.json" ] ||
   [ "$ROOT/tests/node/package-lock.json" -nt "$ROOT/tests/node/node_modules/.package-lock.json" ]; then
  npm ci --prefix "$ROOT/tests/node" --no-audit --no-fund --loglevel=error >/dev/null
fi
