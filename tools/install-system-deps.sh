#!/usr/bin/env bash
# Install the Debian packages the build and the test suite need when they are missing: Python's
# venv module (Debian ships it apart), curl, nginx for the reverse-proxy tests, and a C++
# compiler for libFuzzer (built by the fuzz crate that `make test` runs briefly).
# Needs root and apt-get; does nothing when everything is present.
set -euo pipefail

missing=()
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: missing ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Newer Debian releases dropped nginx-light: fall back to nginx.
if [[ " ${missing[*]} " == *" nginx-light "* ]] && ! apt-cache show nginx-light >/dev/null 2>&1; then
    missing=("${missing[@]/nginx-light/nginx}")
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}"
