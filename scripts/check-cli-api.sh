#!/usr/bin/env bash
# Builds the CLI's sources (CLI/*.swift) as a separate package that depends on Certus by path,
# so that only Certus's public API is visible to them: inside this package the compiler would
# also let the CLI see `package` declarations. Fails when the CLI uses anything else.
# Usage: scripts/check-cli-api.sh [scratch folder]   (default: a temporary folder, removed after)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-$(mktemp -d /tmp/certus-cli-api.XXXXXX)}"
cleanup() { [ -z "${1:-}" ] && rm -rf "$work"; }
trap 'cleanup "${1:-}"' EXIT
mkdir -p "$work/Sources/certuscli"
cp "$root"/CLI/*.swift "$work/Sources/certuscli/"
cat > "$work/Package.swift" <<PKG
// swift-tools-version:5.9
import PackageDescription
let package = Package(
    name: "CertusCLIAPICheck",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "Certus", path: "$root"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .executableTarget(name: "certuscli", dependencies: [
            .product(name: "Certus", package: "Certus"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
    ]
)
PKG
cd "$work"
if ! swift build --product certuscli 2>&1 | tee build.log | tail -3; then
    echo "error: the CLI does not build against Certus's public API:" >&2
    grep -E "error:" build.log | sort -u | head -40 >&2
    exit 1
fi
grep -q "error:" build.log && { grep -E "error:" build.log | sort -u | head -40 >&2; exit 1; }
echo "check-cli-api: the CLI builds against the public API only"
