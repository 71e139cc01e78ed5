#!/usr/bin/env bash
# Installs the pinned local AWS tools into project-local venvs under .tools/ (gitignored) and
# links their entry points into .tools/bin/. Idempotent: a venv whose stamp matches its pins
# is skipped. Usage: scripts/install-tools.sh [moto|aws|lambda|sam|all]...  (default: all)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
bin="$tools/bin"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"

# One line of pins per venv; the stamp file stores exactly this line.
pins_for() {
    case "$1" in
        moto) echo "moto[server]==5.2.5 pytest==8.3.5 PyYAML==6.0.2" ;;
        aws) echo "awscli==1.46.3 awscli-local==0.23.0" ;;
        lambda) echo "cargo-lambda==1.9.2 ziglang==0.17.1" ;;
        sam) echo "aws-sam-cli==1.170.0" ;;
        *) echo "unknown tool set: $1 (want moto|aws|lambda|sam|all)" >&2; return 2 ;;
    esac
}

# Entry points to link: "<name in .tools/bin>=<path inside the venv>".
links_for() {
    case "$1" in
        moto) echo "moto_server=bin/moto_server pytest=bin/pytest" ;;
        aws) echo "aws=bin/aws awslocal=bin/awslocal" ;;
        lambda) echo "cargo-lambda=bin/cargo-lambda zig=ZIG" ;;
        sam) echo "sam=bin/sam" ;;
    esac
}

install_set() {
    local set="$1" venv="$tools/venv-$1" pins pin_list stamp start link name target
    pins="$(pins_for "$set")"
    stamp="$venv/.rockets-stamp"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$pins" ]]; then
        echo "==> $set: already installed ($pins)"
    else
        start=$SECONDS
        echo "==> $set: installing $pins"
        rm -rf "$venv"
        "$python" -m venv "$venv"
        read -ra pin_list <<<"$pins"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pin_list[@]}"
        echo "$pins" >"$stamp"
        echo "==> $set: done in $((SECONDS - start)) s"
    fi

    mkdir -p "$bin"
    for link in $(links_for "$set"); do
        name="${link%%=*}"
        target="$venv/${link#*=}"
        if [[ "$name" == zig ]]; then
            # cargo-lambda wants `zig` on PATH; the ziglang wheel ships the binary in its package.
            target="$("$venv/bin/python" -c \
                'import pathlib, ziglang; print(pathlib.Path(ziglang.__file__).parent / "zig")')"
        fi
        if [[ ! -x "$target" ]]; then
            echo "missing entry point $target" >&2
            return 1
        fi
        ln -sfn "$target" "$bin/$name"
    done
}

sets=("$@")
[[ ${#sets[@]} -gt 0 ]] || sets=(all)
for set in "${sets[@]}"; do
    if [[ "$set" == all ]]; then
        for s in moto aws lambda sam; do install_set "$s"; done
    else
        pins_for "$set" >/dev/null
        install_set "$set"
    fi
done
echo "==> tools linked in ${bin#"$root"/} (source scripts/env.sh to use them)"
