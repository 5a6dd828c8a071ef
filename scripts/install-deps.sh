#!/usr/bin/env bash
# Installs the system libraries Certus links against (Debian packages), if they are missing.
# Safe to run repeatedly; needs root or sudo only when something is missing.
set -euo pipefail
pkgs=(libglpk-dev libopenblas-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "certus: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq </dev/null
$SUDO apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
