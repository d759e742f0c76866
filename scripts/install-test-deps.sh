#!/usr/bin/env bash
# Installs the reference clients the tests run against (Debian packages),
# only when something is missing. Safe to run repeatedly.
set -euo pipefail

need=()
command -v transmission-show >/dev/null || need+=(transmission-cli)
command -v transmission-daemon >/dev/null || need+=(transmission-daemon)
command -v aria2c >/dev/null || need+=(aria2)
command -v opentracker >/dev/null || need+=(opentracker)
command -v mktorrent >/dev/null || need+=(mktorrent)
command -v qbittorrent-nox >/dev/null || need+=(qbittorrent-nox)
/usr/bin/python3 -c 'import libtorrent' 2>/dev/null || need+=(python3-libtorrent)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/chromium ] || need+=(chromium)
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)

if [ ${#need[@]} -gt 0 ]; then
    echo "installing test dependencies: ${need[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The web UI tests drive Debian's chromium with Playwright for Python (its
# own browser download is never used), from the same python as libtorrent.
if ! /usr/bin/python3 -c 'import playwright' 2>/dev/null; then
    echo "installing test dependency: playwright (pip)" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo /usr/bin/python3 -m pip install -q --break-system-packages playwright
fi
