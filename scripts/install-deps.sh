#!/usr/bin/env bash
# Installs the Debian packages rlvr builds against (design.md "Stack"). Idempotent: quiet when all
# are present; uses sudo when not root. bubblewrap, util-linux (prlimit) and python3 run the code
# reward's programs (src/rlvr/sandbox; python3 from /usr/bin, the only one the sandbox sees).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libtorch-dev libopenblas0-pthread libgloo-dev
      nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libpcre2-dev libutf8proc-dev libgtest-dev ccache
      bubblewrap util-linux python3)  # bwrap, prlimit: the sandbox; python3: Python code rewards and
                                      # the code tasks' check (ctest code_tasks)
# `install-deps.sh fuzz`: also clang and its sanitizer / libFuzzer runtimes (make fuzz).
[ "${1:-}" = fuzz ] && pkgs+=(clang libclang-rt-14-dev libfuzzer-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
