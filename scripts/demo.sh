#!/usr/bin/env bash
# `make demo`: runs the embedded default job (rlvr demo) into demo-out/.
set -euo pipefail
bin="${1:-build/rlvr}"
shift || true
# Two data-parallel ranks when there are two cores or more: on the 2-core reference machine they
# run the demo ~1.2x faster than one process with 2 threads (docs/distributed.md, "Performance").
ranks=1
[ "$(nproc)" -ge 2 ] && ranks=2
exec "$bin" demo --out demo-out --nproc-per-node "$ranks" "$@"
