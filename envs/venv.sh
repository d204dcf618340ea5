#!/usr/bin/env bash
# Run a command inside the project's virtual environment, creating or updating it
# first: `bash envs/venv.sh snakemake --cores all`, `bash envs/venv.sh pytest`.
#
# The venv lives in .venv (override with BNOPT_VENV). It is (re)installed from
# envs/requirements.txt and pyproject.toml whenever either changes, and reused as
# is otherwise. Needs only Python >= 3.11 (override with PYTHON=/path/to/python).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BNOPT_VENV:-$root/.venv}"
python="${PYTHON:-python3}"

if [ $# -eq 0 ]; then
    echo "usage: bash envs/venv.sh COMMAND [ARGS...]   (e.g. snakemake --cores all, or pytest)" >&2
    exit 2
fi

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "bnopt needs Python >= 3.11; '$python' is $("$python" --version 2>&1 || echo missing)." >&2
    echo "Set PYTHON=/path/to/python3.11 and run again." >&2
    exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "creating the virtual environment $venv" >&2
    if ! "$python" -m venv "$venv"; then
        echo "could not create a venv: on Debian/Ubuntu, 'apt-get install python3-venv' first." >&2
        exit 1
    fi
fi

stamp="$venv/.bnopt-installed"
wanted="$(cat "$root/envs/requirements.txt" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
    echo "installing bnopt's requirements into $venv (torch is large: a few minutes the first time)" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/envs/requirements.txt"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$root"
    echo "$wanted" > "$stamp"
fi

cd "$root"
# A --configfile that does not exist: one line naming it, not Snakemake's traceback.
if [ "$1" = snakemake ]; then
    configs=0
    for arg in "$@"; do
        case "$arg" in
            --configfile=*|--configfiles=*) file="${arg#*=}" ;;
            --configfile|--configfiles) configs=1; continue ;;
            -*) configs=0; continue ;;
            *) [ $configs = 1 ] && file="$arg" || continue ;;
        esac
        if [ ! -f "$file" ]; then
            echo "no config file '$file' here ($root); the shipped ones: $(cd config && ls *.yaml | sed 's|^|config/|' | paste -sd ' ' -)" >&2
            exit 2
        fi
    done
fi
export PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv"
exec "$@"
