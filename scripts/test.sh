#!/usr/bin/env bash
# Installs what the tests need (Debian packages, the npm development dependencies), builds, and
# runs the whole test suite, `npm test`: type checks and the main ava pass (`npm run test:main`),
# then the serial appliance pass that builds the Debian package and the Raspberry Pi image and
# boots it in QEMU (`npm run test:appliance`):
#   sudo scripts/test.sh              everything
#   sudo scripts/test.sh main         only the main pass
#   sudo scripts/test.sh appliance    only the appliance pass
#   sudo scripts/test.sh --install    only install and build
# Works with or without scripts/install.sh having run first; it does not start the service.
# Once it has run, single files run with `npx ava test/x/y.test.ts`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

what=${1:-all}
case "$what" in all|main|appliance|--install) ;; *) die "usage: $0 [main|appliance|--install]" ;; esac
require_root
apt_install unit test
build_from_source
case "$what" in
  all) npm test ;;
  main) npm run test:main ;;
  appliance) npm run test:appliance ;;
esac
