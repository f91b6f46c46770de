#!/usr/bin/env bash
# System packages quaywatch talks to as real peers. Idempotent: installs only what is missing.
#   .ci/system-deps.sh demo   what `make demo` needs (GStreamer's RTSP server for the simulated cameras)
#   .ci/system-deps.sh        everything the tests need (adds Mosquitto, Chromium, PostgreSQL, Prism)
# Needs root for apt-get (CI and the dev machines run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-test}"

DEMO_PACKAGES=(
  python3-venv python3-pip
  python3-gi gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-libav gstreamer1.0-tools
)
TEST_PACKAGES=(mosquitto chromium postgresql openssl)

wanted=("${DEMO_PACKAGES[@]}")
[ "$profile" = "test" ] && wanted+=("${TEST_PACKAGES[@]}")
# Node for Prism: any Node >= 18 will do; take Debian's only when there is none (a NodeSource nodejs
# already carries npm, and Debian's npm package conflicts with it).
if [ "$profile" = "test" ] && ! command -v npm >/dev/null; then
  wanted+=(nodejs npm)
fi

missing=()
for p in "${wanted[@]}"; do
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

# Prism (Twilio contract mock), installed into the project's tools/, never globally.
if [ "$profile" = "test" ] && [ ! -x tools/node_modules/.bin/prism ]; then
  echo "system-deps: installing @stoplight/prism-cli"
  mkdir -p tools
  (cd tools && npm install --silent --no-audit --no-fund @stoplight/prism-cli@5 >/dev/null)
fi
echo "system-deps ($profile): ok"
