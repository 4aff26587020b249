#!/usr/bin/env bash
# `make demo`: runs the embedded default job (rlvr demo) into demo-out/.
set -euo pipefail
bin="${1:-build/rlvr}"
shift || true
exec "$bin" demo --out demo-out "$@"
