#!/usr/bin/env bash
# Installs libcoap 4.3.4 (Debian trixie's libcoap3-bin) into a private prefix on this Debian bookworm machine,
# without touching the system: no change to /etc/apt, no trixie package installed system-wide.
#
# Recipe (ARCHITECTURE.md, "Known pitfalls here"): `apt-get download` the trixie packages with a private apt state
# (its own sources dir with one trixie deb822 source, its own lists, cache and an empty dpkg status), `dpkg -x` them
# into the prefix, and run each binary through the prefix's own loader:
#
#   PREFIX/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path PREFIX/usr/lib/x86_64-linux-gnu \
#     PREFIX/usr/bin/coap-server-openssl ...
#
# Wrappers doing exactly that are written to PREFIX/bin/coap-{server,client}-{notls,openssl,gnutls}.
# The interop specs find the prefix through LIBCOAP_4_3_4_PREFIX (default /opt/libcoap-4.3.4, the default here).
#
# Idempotent: when the prefix holds a working 4.3.4 it does nothing. Needs root only to write the prefix.
# Usage: scripts/install-libcoap-4.3.4.sh [PREFIX]
set -euo pipefail

PREFIX="${1:-${LIBCOAP_4_3_4_PREFIX:-/opt/libcoap-4.3.4}}"
LIBDIR="usr/lib/x86_64-linux-gnu"
LOADER="ld-linux-x86-64.so.2"
# libcoap's binaries, the C library and loader they must run with, the TLS libraries, and what those need.
PACKAGES=(
  libcoap3-bin libcoap3t64 libc6 libssl3t64 libgnutls30t64
  libgmp10 libhogweed6t64 libnettle8t64 libidn2-0 libp11-kit0 libtasn1-6 libunistring5 libzstd1 zlib1g libffi8
)
FLAVORS=(notls openssl gnutls)

[ "$(uname -m)" = x86_64 ] || { echo "install-libcoap-4.3.4: only x86_64 is supported" >&2; exit 1; }

# Runs one binary of a prefix through that prefix's loader.
run_in() {
  local prefix="$1" binary="$2"
  shift 2
  "$prefix/$LIBDIR/$LOADER" --library-path "$prefix/$LIBDIR" "$prefix/usr/bin/$binary" "$@"
}

# Usage text of one binary (`-h` wants an argument, so a bare `-h` prints the usage, with the version and TLS
# library, and exits non-zero).
usage_of() {
  run_in "$1" "$2" -h 2>&1 || true
}

# True when every server and client build of the prefix runs and reports 4.3.4, with the right TLS library.
verify() {
  local prefix="$1" flavor
  for flavor in "${FLAVORS[@]}"; do
    [[ "$(usage_of "$prefix" "coap-server-$flavor")" == *"v4.3.4 "* ]] || return 1
    [[ "$(usage_of "$prefix" "coap-client-$flavor")" == *"v4.3.4 "* ]] || return 1
  done
  [[ "$(usage_of "$prefix" coap-server-openssl)" == *"OpenSSL"* ]] || return 1
  [[ "$(usage_of "$prefix" coap-server-gnutls)" == *"GnuTLS"* ]] || return 1
}

if [ -x "$PREFIX/$LIBDIR/$LOADER" ] && verify "$PREFIX"; then
  echo "libcoap 4.3.4 already installed in $PREFIX"
  exit 0
fi

# The machine's own Debian mirror (the host of its bookworm source), used for trixie too.
MIRROR="$(
  { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p'
  } | grep -E '/debian/?$' | head -n 1 | sed 's:/*$::'
)" || true
[ -n "$MIRROR" ] || { echo "install-libcoap-4.3.4: no Debian mirror found in /etc/apt sources" >&2; exit 1; }
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

WORK="$(mktemp -d /tmp/libcoap-4.3.4.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"  # apt downloads as the _apt user when it can reach the directory
mkdir -p "$WORK/sources.list.d" "$WORK/preferences.d" "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/debs" "$WORK/root"
touch "$WORK/status"
cat >"$WORK/sources.list.d/trixie.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: trixie
Components: main
Signed-By: $KEYRING
EOF

# A private apt state: only the trixie source above, its own lists and cache, and an empty dpkg status (so the
# candidate is always trixie's version, whatever is installed). Nothing under /etc/apt or /var/lib/apt changes.
APT_OPTS=(
  -o "Dir::Etc::SourceList=$WORK/none.list"
  -o "Dir::Etc::SourceParts=$WORK/sources.list.d"
  -o "Dir::Etc::Preferences=$WORK/none.pref"
  -o "Dir::Etc::PreferencesParts=$WORK/preferences.d"
  -o "Dir::State::Lists=$WORK/lists"
  -o "Dir::State::Status=$WORK/status"
  -o "Dir::Cache=$WORK/cache"
  -o "APT::Architecture=amd64"
  -o "APT::Architectures=amd64"
  -o "APT::Sandbox::User=root"  # the private dirs are root's; no _apt sandbox warnings
)

echo "install-libcoap-4.3.4: fetching trixie's package lists from $MIRROR (private apt state in $WORK)"
apt-get "${APT_OPTS[@]}" -qq update
(cd "$WORK/debs" && apt-get "${APT_OPTS[@]}" -q download "${PACKAGES[@]}")

for deb in "$WORK"/debs/*.deb; do
  dpkg -x "$deb" "$WORK/root"
done
# The TLS libraries read their configuration from the system's /etc; gnutls and openssl run fine with bookworm's.

# Wrappers, so a shell (or a spec) can run them like the system's binaries.
mkdir -p "$WORK/root/bin"
for kind in server client; do
  for flavor in "${FLAVORS[@]}"; do
    cat >"$WORK/root/bin/coap-$kind-$flavor" <<EOF
#!/bin/sh
# libcoap 4.3.4 (Debian trixie) from this private prefix, run through the prefix's own loader and libraries.
PREFIX="\$(cd "\$(dirname "\$0")/.." && pwd)"
exec "\$PREFIX/$LIBDIR/$LOADER" --library-path "\$PREFIX/$LIBDIR" "\$PREFIX/usr/bin/coap-$kind-$flavor" "\$@"
EOF
    chmod 755 "$WORK/root/bin/coap-$kind-$flavor"
  done
done
(cd "$WORK/debs" && ls -1 *.deb) >"$WORK/root/PACKAGES"

if ! verify "$WORK/root"; then
  echo "install-libcoap-4.3.4: the extracted binaries do not run or do not report 4.3.4:" >&2
  for flavor in "${FLAVORS[@]}"; do usage_of "$WORK/root" "coap-server-$flavor" | sed -n '2,7p' >&2; done
  exit 1
fi

# Swap in the new prefix whole, so a failed run never leaves a half-installed one.
mkdir -p "$(dirname "$PREFIX")"
rm -rf "$PREFIX.old"
if [ -e "$PREFIX" ]; then mv "$PREFIX" "$PREFIX.old"; fi
mv "$WORK/root" "$PREFIX"
rm -rf "$PREFIX.old"
echo "libcoap 4.3.4 installed in $PREFIX:"
usage_of "$PREFIX" coap-server-notls | sed -n '2p'
