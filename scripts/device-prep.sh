#!/usr/bin/env bash
# Fills the two ignored folders that scripts/device-check.sh needs on the GPU machine, which has no
# package registry and no ../shared: run it here (a Debian 12 machine with apt), in the repo root,
# before the device run, and carry both folders (carry [".debs", ".shared-data"]).
#   .debs/         the Debian 12 packages rlvr builds against besides torch (headers, CMake and
#                  pkg-config files, shared libraries), unpacked there into a private prefix
#   .shared-data/  a copy of ../shared/data (test fixtures: stories260K, the Qwen tokenizer, GSM8K)
# Idempotent; prints the sizes (what travels must stay under 64 MiB with the tracked files).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(libyaml-cpp-dev libyaml-cpp0.7 nlohmann-json3-dev libcli11-dev
      libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
      libutf8proc-dev libutf8proc2 libgtest-dev
      pkgconf pkgconf-bin libpkgconf3)  # pkg-config, in case the GPU image has none
mkdir -p .debs
missing=()
for p in "${pkgs[@]}"; do compgen -G ".debs/${p}_*.deb" >/dev/null || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  (cd .debs && apt-get download "${missing[@]}" 2>&1 | grep -v "unsandboxed" || true)
fi
for p in "${pkgs[@]}"; do
  compgen -G ".debs/${p}_*.deb" >/dev/null || { echo "device-prep: failed to download $p" >&2; exit 1; }
done
shared="${RLVR_SHARED_DATA:-../shared/data}"
[ -d "$shared" ] || { echo "device-prep: no shared data at $shared" >&2; exit 1; }
rm -rf .shared-data
cp -r "$shared" .shared-data
chmod -R u+w .shared-data
du -sh .debs .shared-data
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo "device-prep: tracked files $((tracked / 1024)) KiB; carry [\".debs\", \".shared-data\"]"
