#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The SDK as an integrator sees it: install the build into a staging
# directory (no root needed), build tests/sdk/vb-oot-hello.c against the
# installed headers and pkg-config file only, and prove that the built
# vestibulectl and vestibuled load the module. Output is TAP.
#
# Why the staging directory is made a sysroot: the .pc file describes paths as
# they will be on the target (prefix=/usr/local), and pkgconf 1.8 can only
# relocate them for every package at once. --define-prefix and
# --define-variable=prefix would move glib's paths too (and --define-prefix
# guesses the prefix wrong under Debian's multiarch libdir, lib/x86_64-linux-gnu).
# PKG_CONFIG_SYSROOT_DIR is the tool made for a staging tree, but it is
# prepended to every -I and -L, so the staging tree must look like the whole
# target system, as a cross-compiling sysroot does: the host's /usr/include
# and /usr/lib are linked into it where the install left no such directory.
#
# One copy of libvestibule: the plugin needs libvestibule.so.1, which the
# dynamic loader satisfies with the copy the daemon already has (the build's,
# found through LD_LIBRARY_PATH and the build rpath), never the staged one. The
# test checks the daemon's memory map for that.

set -u

plan=10
echo "1..$plan"
n=0
failed=0
broken="" # set once a step that later steps need has failed

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
}
skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $broken"
}
diag() {
	sed 's/^/# /' "$@"
}

if [ -z "${VB_BUILD_ROOT:-}" ] || [ -z "${VB_SOURCE_ROOT:-}" ]; then
	echo "Bail out! VB_BUILD_ROOT and VB_SOURCE_ROOT must be set; run this with meson test"
	exit 1
fi
build=$VB_BUILD_ROOT
ctl=$build/core/ctl/vestibulectl
daemon=$build/core/daemon/vestibuled
export LD_LIBRARY_PATH="$build/core/libvestibule${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset VESTIBULE_PLUGIN_DIR NOTIFY_SOCKET WATCHDOG_USEC CREDENTIALS_DIRECTORY

tmp=$(mktemp -d /tmp/vb-sdk-XXXXXX)
daemon_pid=""
cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

root=$tmp/root
plugins=$tmp/plugins
mkdir -p "$plugins"

# 1: install, as a packager would, into a staging directory
if meson install -C "$build" --no-rebuild --quiet --destdir "$root" >"$tmp/install.log" 2>&1; then
	ok "meson install --destdir stages the SDK without root"
else
	not_ok "meson install --destdir stages the SDK without root"
	diag "$tmp/install.log"
	broken="the install failed"
fi

# 2: the pkg-config file and what it tells a plugin author
pc=""
if [ -z "$broken" ]; then
	pc=$(find "$root" -name vestibule-1.pc -print -quit)
fi
if [ -n "$pc" ]; then
	# the staging tree becomes a sysroot: see the top of this file
	for dir in usr/include usr/lib; do
		if [ ! -e "$root/$dir" ]; then
			mkdir -p "$(dirname "$root/$dir")"
			ln -s "/$dir" "$root/$dir"
		fi
	done
	export PKG_CONFIG_PATH
	PKG_CONFIG_PATH=$(dirname "$pc")
	export PKG_CONFIG_SYSROOT_DIR=$root
	plugindir=$(pkg-config --variable=plugindir vestibule-1)
	abi_major=$(pkg-config --variable=abi_major vestibule-1)
	abi_minor=$(pkg-config --variable=abi_minor vestibule-1)
	includedir=$(pkg-config --variable=includedir vestibule-1)
	header_major=$(sed -n 's/^#define VB_PLUGIN_ABI_MAJOR \([0-9]*\)$/\1/p' \
		"$includedir/vestibule-1/vb-version.h" 2>/dev/null)
	if [ -n "$plugindir" ] && [ -n "$abi_major" ] && [ -n "$abi_minor" ] &&
		[ "$abi_major" = "$header_major" ]; then
		ok "vestibule-1.pc gives plugindir ($plugindir) and ABI $abi_major.$abi_minor"
	else
		not_ok "vestibule-1.pc gives plugindir and the ABI numbers"
		echo "# plugindir='$plugindir' abi_major='$abi_major' abi_minor='$abi_minor'" \
			"header major='$header_major'"
		diag "$pc"
	fi
elif [ -z "$broken" ]; then
	not_ok "the install has vestibule-1.pc"
	broken="no vestibule-1.pc"
else
	skip "vestibule-1.pc gives plugindir and the ABI numbers"
fi

# 3: build the plugin with nothing but what pkg-config says
module=$plugins/vb-oot-hello.so
if [ -z "$broken" ]; then
	# shellcheck disable=SC2046 # the flags are meant to split
	if cc -std=gnu11 -Wall -Wextra -Werror -shared -fPIC -o "$module" \
		"$VB_SOURCE_ROOT/tests/sdk/vb-oot-hello.c" \
		$(pkg-config --cflags --libs vestibule-1) >"$tmp/cc.log" 2>&1; then
		# the loader refuses modules that others could have replaced
		chmod go-w "$module"
		ok "vb-oot-hello.c builds with cc and pkg-config --cflags --libs vestibule-1 only"
	else
		not_ok "vb-oot-hello.c builds with cc and pkg-config --cflags --libs vestibule-1 only"
		diag "$tmp/cc.log"
		broken="the plugin did not build"
	fi
else
	skip "vb-oot-hello.c builds with pkg-config only"
fi

# 4: VB_PLUGIN_DEFINE exported the entry point and the ABI numbers
if [ -z "$broken" ]; then
	syms=$(nm -D --defined-only "$module" 2>&1)
	if grep -qw vb_plugin_query <<<"$syms" && grep -qw vb_plugin_abi_major <<<"$syms" &&
		grep -qw vb_plugin_abi_minor <<<"$syms"; then
		ok "the module exports vb_plugin_query and the ABI numbers"
	else
		not_ok "the module exports vb_plugin_query and the ABI numbers"
		diag <<<"$syms"
	fi
else
	skip "the module exports vb_plugin_query and the ABI numbers"
fi

write_config() { # FILE COLUMNS
	cat >"$1" <<EOF
[vestibule]
name = SDK test store
state-dir = $tmp/state
[http]
address = 127.0.0.1
port = 0
control-socket = $tmp/control.sock
[door:front]
display = hello
[instance:hello]
plugin = oot-hello
columns = $2
EOF
}
write_config "$tmp/good.conf" 32
write_config "$tmp/bad.conf" thirty-two
printf '[vestibule]\ncard-token-key = %s\n' \
	"$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >"$tmp/secrets.conf"
chmod 600 "$tmp/secrets.conf"

# 5: config check loads the module to learn its keys, and accepts them
if [ -z "$broken" ]; then
	"$ctl" config check "$tmp/good.conf" --plugin-dir "$plugins" >"$tmp/check.log" 2>&1
	status=$?
	if [ "$status" -eq 0 ] && grep -q "configuration is valid" "$tmp/check.log"; then
		ok "vestibulectl config check accepts the plugin's declared setting"
	else
		not_ok "vestibulectl config check accepts the plugin's declared setting (exit $status)"
		diag "$tmp/check.log"
	fi
else
	skip "vestibulectl config check accepts the plugin's declared setting"
fi

# 6: a wrong type is an error that names the file and the line
if [ -z "$broken" ]; then
	"$ctl" config check "$tmp/bad.conf" --plugin-dir "$plugins" >"$tmp/check.log" 2>&1
	status=$?
	line=$(grep -n '^columns = ' "$tmp/bad.conf" | cut -d: -f1)
	if [ "$status" -eq 1 ] && grep -qF "$tmp/bad.conf:$line:" "$tmp/check.log" &&
		grep -q columns "$tmp/check.log"; then
		ok "a wrong-type setting exits 1 naming bad.conf:$line"
	else
		not_ok "a wrong-type setting exits 1 naming bad.conf:$line (exit $status)"
		diag "$tmp/check.log"
	fi
else
	skip "a wrong-type setting exits 1 naming the file and line"
fi

# 7: the daemon starts with the plugin and answers on its control socket
if [ -z "$broken" ]; then
	"$daemon" --config "$tmp/good.conf" --secrets "$tmp/secrets.conf" \
		--plugin-dir "$plugins" >"$tmp/daemon.log" 2>&1 &
	daemon_pid=$!
	up=""
	for _ in $(seq 1 200); do
		if [ -S "$tmp/control.sock" ] &&
			"$ctl" --socket "$tmp/control.sock" status >/dev/null 2>&1; then
			up=yes
			break
		fi
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.05
	done
	if [ -n "$up" ]; then
		ok "vestibuled starts with --plugin-dir and answers on its control socket"
	else
		not_ok "vestibuled starts with --plugin-dir and answers on its control socket"
		diag "$tmp/daemon.log"
		broken="the daemon did not start"
	fi
else
	skip "vestibuled starts with --plugin-dir and answers on its control socket"
fi

# 8: the instance runs and fills the display role
if [ -z "$broken" ]; then
	"$ctl" --socket "$tmp/control.sock" plugins >"$tmp/plugins.log" 2>&1
	status=$?
	if [ "$status" -eq 0 ] &&
		grep -Eq '^hello +oot-hello +running +front +display$' "$tmp/plugins.log"; then
		ok "vestibulectl plugins lists hello running as the front door's display"
	else
		not_ok "vestibulectl plugins lists hello running as the front door's display (exit $status)"
		diag "$tmp/plugins.log" "$tmp/daemon.log"
	fi
else
	skip "vestibulectl plugins lists hello running"
fi

# 9: one libvestibule in the process, the build's
if [ -z "$broken" ]; then
	copies=$(awk '$6 ~ /libvestibule\.so/ { print $6 }' "/proc/$daemon_pid/maps" | sort -u)
	count=$(grep -c . <<<"$copies")
	if [ "$count" -eq 1 ] && [[ $copies == "$build"/core/libvestibule/* ]]; then
		ok "the daemon maps one libvestibule, the build's"
	else
		not_ok "the daemon maps one libvestibule, the build's"
		diag <<<"$copies"
	fi
else
	skip "the daemon maps one libvestibule, the build's"
fi

# 10: SIGTERM stops it cleanly
if [ -z "$broken" ]; then
	kill -TERM "$daemon_pid"
	wait "$daemon_pid"
	status=$?
	daemon_pid=""
	if [ "$status" -eq 0 ] && grep -q "hello from out of tree" "$tmp/daemon.log"; then
		ok "vestibuled ran the plugin's startup and stops with status 0 on SIGTERM"
	else
		not_ok "vestibuled ran the plugin's startup and stops with status 0 on SIGTERM (exit $status)"
		diag "$tmp/daemon.log"
	fi
else
	skip "vestibuled stops with status 0 on SIGTERM"
fi

[ "$n" -eq "$plan" ] || echo "# planned $plan tests, ran $n"
[ "$failed" -eq 0 ]
