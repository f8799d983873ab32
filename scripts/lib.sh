# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Shared by scripts/demo, scripts/test and .ci/run: the Debian 12 packages a
# build needs and how to install the missing ones. Source it; it runs nothing.

# the build dependencies, by their Debian 12 (bookworm) names. libnfc, libgpiod
# and libmm-glib are for plugins still to come, so that CI does not change when
# they land. libclang-rt-dev holds clang's sanitizer runtimes, which clang only
# recommends.
VB_APT_PACKAGES=(
	build-essential meson ninja-build pkg-config clang lld libclang-rt-dev
	libglib2.0-dev libsoup-3.0-dev libjson-glib-dev libsqlite3-dev libsodium-dev
	libsystemd-dev libnfc-dev libgpiod-dev libmm-glib-dev
	gettext clang-format python3 python3-dbusmock python3-gi sqlite3
	curl ca-certificates git nodejs
)
# npm runs Prism for the twilio contract test; NodeSource's nodejs carries its
# own npm and conflicts with Debian's package
if ! command -v npm >/dev/null 2>&1; then
	VB_APT_PACKAGES+=(npm)
fi

# the top of the source tree, wherever the script was started from
vb_repo_root() {
	(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
}

# bold when the output is a terminal
vb_say() {
	if [ -t 1 ]; then
		printf '\033[1m%s\033[0m\n' "$*"
	else
		printf '%s\n' "$*"
	fi
}

vb_die() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

# runs a command as root: directly when we are root, else through sudo
vb_as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		vb_die "this needs root and sudo is not installed; run as root: $*"
	fi
}

# prints the packages of VB_APT_PACKAGES that are not installed
vb_missing_packages() {
	local pkg
	for pkg in "${VB_APT_PACKAGES[@]}"; do
		if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]; then
			printf '%s\n' "$pkg"
		fi
	done
}

# installs what is missing, without a prompt; does nothing (not even
# apt-get update) when everything is there
vb_install_deps() {
	local missing
	if ! command -v dpkg-query >/dev/null 2>&1; then
		vb_say "not a Debian system: make sure the equivalents of these are installed:"
		printf '  %s\n' "${VB_APT_PACKAGES[*]}"
		return 0
	fi
	mapfile -t missing < <(vb_missing_packages)
	if [ "${#missing[@]}" -eq 0 ]; then
		return 0
	fi
	vb_say "installing the build dependencies: ${missing[*]}"
	vb_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
		vb_die "apt-get update failed"
	vb_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" ||
		vb_die "apt-get install failed"
}

# installs the npm tools the tests run (Prism, for the twilio contract test)
# with `npm ci` from tests/twilio/package-lock.json, when node_modules is
# missing or was installed from another lock file
vb_install_test_tools() {
	local dir stamp want
	dir="$(vb_repo_root)/tests/twilio"
	stamp="$dir/node_modules/.vb-package-lock.sha256"
	want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
	if [ -x "$dir/node_modules/.bin/prism" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
		return 0
	fi
	if ! command -v npm >/dev/null 2>&1; then
		vb_say "npm is missing: install nodejs and npm to run the twilio contract test"
		return 1
	fi
	vb_say "installing the test tools: npm ci --prefix tests/twilio"
	npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund || return 1
	printf '%s\n' "$want" >"$stamp"
}

# configures build directory $1 with the remaining arguments as meson options;
# reuses an existing configuration, and starts afresh if it cannot
vb_meson_setup() {
	local dir=$1
	shift
	if [ -f "$dir/meson-private/coredata.dat" ]; then
		meson setup --reconfigure "$dir" "$@" && return 0
		vb_say "cannot reuse $dir; configuring it afresh"
	fi
	rm -rf "$dir"
	meson setup "$dir" "$@"
}
