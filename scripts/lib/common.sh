# Shared steps of scripts/install.sh and scripts/test.sh (sourced, not run).
# Both work on a machine where the other never ran, and either may run first or again.

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

require_root() {
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
}

# The package names of scripts/apt-<list>.txt for this machine's architecture.
apt_list() {
  local arch
  arch=$(dpkg --print-architecture)
  sed -e 's/#.*//' "scripts/apt-$1.txt" | tr -s ' \t' '\n' |
    awk -v arch="[$arch]" 'NF == 0 { next } /^\[/ { if ($0 != arch) drop[n] = 1; next } { names[++n] = $0 } END { for (i = 1; i <= n; i++) if (!drop[i]) print names[i] }'
}

node_major() {
  command -v node >/dev/null && node -p 'process.versions.node.split(".")[0]' || echo 0
}

# Installs the Debian packages of the given lists (and Debian's Node.js when there is none 20 or
# newer), with one apt-get update per run.
apt_install() {
  local packages=() list
  for list in "$@"; do mapfile -t -O "${#packages[@]}" packages < <(apt_list "$list"); done
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if [ "$(node_major)" -lt 20 ]; then
    # Debian's nodejs when it is 20 or newer (trixie); Debian 12's is 18: say so before installing anything.
    local candidate
    candidate=$(apt-cache show --no-all-versions nodejs 2>/dev/null | sed -n 's/^Version: \([0-9]*\).*/\1/p' | head -n 1)
    if [ "${candidate:-0}" -lt 20 ]; then
      die "Node.js 20 or newer is needed, found $(node --version 2>/dev/null || echo none), and this system's nodejs package is ${candidate:-missing}. Debian 13 (trixie) ships 20; on Debian 12 install Node.js 20 and npm first (an official binary build unpacked into /usr/local, or a Node.js 20 .deb), then run this again"
    fi
    packages+=(nodejs npm)
  fi
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  command -v npm >/dev/null || die "npm is missing: it comes with Node.js's official builds (Debian: apt-get install npm)"
}

# npm dependencies, native addons and the TypeScript build. `npm ci` runs only when
# package-lock.json changed since the last successful one (or there was none), so the second of
# install.sh and test.sh, or a second run, does not download and compile everything again.
build_from_source() {
  local stamp=node_modules/.intercom-installed
  local want
  want="$(sha256sum package-lock.json | cut -d' ' -f1) node $(node --version)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    # --ignore-scripts + an explicit native build: one path for npm 10 and 11 and for arm64, where
    # naudiodon's own build script links an x86-64 library (see scripts/build-naudiodon.mjs).
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
    node scripts/build-native.mjs --force
    echo "$want" > "$stamp"
  else
    node scripts/build-native.mjs
  fi
  npm run --silent build
}
