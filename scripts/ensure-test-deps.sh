#!/usr/bin/env bash
# Runs before `npm test`: the GPU and browser tests need a Chromium (browser tests, and its
# SwiftShader Vulkan driver for machines without a GPU) and the Vulkan loader (Dawn in Node).
# Installs them with apt-get when missing and allowed (root or sudo on Debian/Ubuntu); otherwise
# says what to install. LOWBIT_CHROMIUM=/path/to/chrome skips the chromium check.
set -euo pipefail
need=()
if [ -z "${LOWBIT_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  need+=(chromium)
fi
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
  need+=(libvulkan1)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; else
      echo "lowbit tests need: ${need[*]} — install them with: sudo apt-get install -y ${need[*]}" >&2
      exit 1
    fi
  fi
  echo "lowbit: installing ${need[*]} for the GPU and browser tests" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "lowbit tests need a Chromium (set LOWBIT_CHROMIUM) and the Vulkan loader (libvulkan.so.1)" >&2
  exit 1
fi
