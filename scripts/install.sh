#!/usr/bin/env bash
# Installs what a pi-intercom unit needs on Debian or Raspberry Pi OS (run as root, from the
# repository), builds it, and starts the service on its default configuration:
#   sudo scripts/install.sh
# Nothing of the tests (see scripts/test.sh). INTERCOM_NO_START=1 skips starting the service.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

require_root
apt_install unit
build_from_source

# `intercom send|recv|devices|password` on the PATH, for use over ssh.
cat > /usr/local/bin/intercom <<WRAPPER
#!/bin/sh
exec node "$(pwd)/dist/cli/intercom.js" "\$@"
WRAPPER
chmod 755 /usr/local/bin/intercom

if [ "${INTERCOM_NO_START:-}" = "1" ]; then
  exit 0
fi
scripts/start-service.sh
