#!/usr/bin/env bash
# Runs the whole Certus test suite: installs the system libraries if needed, builds, tests.
# Tests read ../shared (the shared benchmark and reference data beside the clone).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$root/scripts/install-deps.sh"
cd "$root"
swift build --build-tests
swift test --skip-build --disable-swift-testing 2>&1 | tee .test-log.txt
