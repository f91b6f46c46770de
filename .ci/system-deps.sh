#!/usr/bin/env bash
# System packages the tests talk to as real peers (see README "Real parts").
# Idempotent: installs only what is missing. Needs root (CI and dev machines here run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PACKAGES=(
  python3-venv python3-pip
  mosquitto
  gir1.2-gst-rtsp-server-1.0 python3-gi
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-libav gstreamer1.0-tools
  chromium
  postgresql
  nodejs npm
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps: missing ${missing[*]}; run as root or install them yourself" >&2
    exit 1
  fi
  echo "system-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Prism (Twilio contract mock), installed into the project, never globally.
if [ ! -x tools/node_modules/.bin/prism ] && command -v npm >/dev/null; then
  echo "system-deps: installing @stoplight/prism-cli"
  mkdir -p tools
  (cd tools && npm install --silent --no-audit --no-fund @stoplight/prism-cli@5 >/dev/null)
fi
echo "system-deps: ok"
