#!/usr/bin/env bash
# The machine line every bench script prints with its figures: CPU model, logical CPUs and
# physical cores, memory, kernel, OpenSSL and rustc versions, load average, and the date (UTC).
# Figures in docs/performance.md are quoted with the line their script printed.
#
#   bash bench/machine.sh        # prints one line, `Machine: …`
set -euo pipefail

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
cpus=$(nproc)
# Physical cores: distinct (socket, core) pairs; lscpu when present, else /proc/cpuinfo.
if command -v lscpu >/dev/null 2>&1; then
    cores=$(lscpu -p=socket,core 2>/dev/null | grep -v '^#' | sort -u | wc -l)
else
    cores=$(awk -F': ' '/^physical id/ {p=$2} /^core id/ {print p "-" $2}' /proc/cpuinfo | sort -u | wc -l)
fi
mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
openssl_version=$(openssl version 2>/dev/null | cut -d' ' -f1-2 || echo "no openssl")
rustc_version=$(rustc --version 2>/dev/null | cut -d' ' -f1-2 || echo "no rustc")
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "Machine: ${cpu:-unknown CPU}, ${cpus} CPUs (${cores:-?} cores), ${mem}, Linux $(uname -r);" \
    "${openssl_version}; ${rustc_version}; load average ${load}; $(date -u '+%Y-%m-%d %H:%M UTC')"
