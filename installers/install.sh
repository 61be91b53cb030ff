#!/bin/sh
# Install the Tokligence Gateway single-file binary on Linux or macOS.
#
#   curl -fsSL https://raw.githubusercontent.com/tokligence/tokligence-gateway/main/installers/install.sh | sh
#
# It picks the binary for this OS, CPU and C library, checks it against the
# release's SHA256SUMS, installs it as `tokligence` (and `gatewayd`, a link to
# it) into a user bin folder and prints what to do next. Nothing is installed
# unless the checksum matches. Settings, all optional:
#
#   TOKLIGENCE_VERSION            release to install, e.g. 0.2.0 (default: the latest)
#   TOKLIGENCE_INSTALL_DIR        where to install (default: ~/.local/bin)
#   TOKLIGENCE_DOWNLOAD_BASE_URL  releases base URL, for mirrors laid out like
#                                 GitHub's: <base>/download/v<version>/<file>
#                                 and <base>/latest/download/<file>
#
# Everything runs inside main(), called on the last line, so a download cut
# short never runs half a script.
set -eu

DEFAULT_BASE_URL="https://github.com/tokligence/tokligence-gateway/releases"

say() { printf '%s\n' "$*"; }
die() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 1
}

is_musl() {
    if ldd --version 2>&1 | grep -qi musl; then return 0; fi
    for loader in /lib/ld-musl-*; do
        [ -e "$loader" ] && return 0
    done
    return 1
}

platform_key() {
    case "$(uname -s)" in
        Linux) os=linux ;;
        Darwin) os=darwin ;;
        *) die "no prebuilt binary for $(uname -s): use installers/install.ps1 on Windows, or: pip install tokligence" ;;
    esac
    case "$(uname -m)" in
        x86_64 | amd64) cpu=x64 ;;
        aarch64 | arm64) cpu=arm64 ;;
        *) die "no prebuilt binary for $(uname -m) CPUs; install the Python package: pip install tokligence" ;;
    esac
    libc=""
    if [ "$os" = linux ] && is_musl; then
        [ "$cpu" = x64 ] || die "no prebuilt musl binary for $cpu; install the Python package: pip install tokligence"
        libc="-musl"
    fi
    printf '%s-%s%s' "$os" "$cpu" "$libc"
}

fetch() { # url file [progress]
    if command -v curl >/dev/null 2>&1; then
        if [ "${3:-}" = progress ] && [ -t 2 ]; then
            curl -fL --progress-bar -o "$2" "$1"
        else
            curl -fsSL -o "$2" "$1"
        fi
    elif command -v wget >/dev/null 2>&1; then
        if [ "${3:-}" = progress ] && [ -t 2 ]; then
            wget -q --show-progress -O "$2" "$1"
        else
            wget -q -O "$2" "$1"
        fi
    else
        die "neither curl nor wget is installed"
    fi
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d ' ' -f 1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d ' ' -f 1
    elif command -v openssl >/dev/null 2>&1; then
        openssl dgst -sha256 "$1" | sed 's/^.*= *//'
    else
        die "no sha256sum, shasum or openssl to verify the download with"
    fi
}

main() {
    key=$(platform_key)
    asset="tokligence-$key"
    base=${TOKLIGENCE_DOWNLOAD_BASE_URL:-$DEFAULT_BASE_URL}
    base=${base%/}
    if [ -n "${TOKLIGENCE_VERSION:-}" ]; then
        version=${TOKLIGENCE_VERSION#v}
        release="$base/download/v$version"
    else
        version=latest
        release="$base/latest/download"
    fi
    dir=${TOKLIGENCE_INSTALL_DIR:-${HOME:?HOME is not set}/.local/bin}

    tmp=$(mktemp -d 2>/dev/null || mktemp -d -t tokligence)
    trap 'rm -rf "$tmp"' EXIT
    trap 'exit 130' INT TERM

    say "Installing Tokligence Gateway ($version, $key) into $dir"
    fetch "$release/SHA256SUMS" "$tmp/SHA256SUMS" ||
        die "could not download $release/SHA256SUMS (offline? set TOKLIGENCE_DOWNLOAD_BASE_URL to a mirror)"
    fetch "$release/$asset" "$tmp/$asset" progress ||
        die "could not download $release/$asset"
    expected=$(awk -v a="$asset" '$2 == a || $2 == "*" a { print $1; exit }' "$tmp/SHA256SUMS")
    [ -n "$expected" ] || die "$release/SHA256SUMS lists no checksum for $asset; nothing installed"
    actual=$(sha256_of "$tmp/$asset")
    if [ "$expected" != "$actual" ]; then
        die "checksum mismatch for $asset: expected $expected, got $actual; nothing installed"
    fi

    chmod 755 "$tmp/$asset"
    if ! installed_version=$("$tmp/$asset" --version 2>&1); then
        die "the downloaded binary does not run here ($installed_version); nothing installed"
    fi
    mkdir -p "$dir"
    # Copy beside the target, then rename: a running gateway keeps its old file.
    cp "$tmp/$asset" "$dir/.tokligence.$$"
    mv -f "$dir/.tokligence.$$" "$dir/tokligence"
    ln -sf tokligence "$dir/gatewayd"

    say "Installed $installed_version: $dir/tokligence (and gatewayd)"
    say ""
    say "Next steps:"
    case ":${PATH:-}:" in
        *":$dir:"*) ;;
        *) say "  - add $dir to your PATH, e.g.: export PATH=\"$dir:\$PATH\"" ;;
    esac
    say "  - start the gateway:  tokligence          (serves http://127.0.0.1:8081)"
    say "  - point clients at it: OPENAI_BASE_URL=http://127.0.0.1:8081/v1"
    say "                         ANTHROPIC_BASE_URL=http://127.0.0.1:8081"
    say "  - see every setting:  tokligence config show"
}

main "$@"
