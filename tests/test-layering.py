#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-layering.py: each part of core/ depends only downward. Reads every
# quoted #include of core/ and plugins/ and checks, as TAP, that
#
#   - the SDK (core/libvestibule/) includes nothing of the daemon's or the CLI's;
#   - the CLI (core/ctl/) includes nothing of the daemon's;
#   - the daemon (core/daemon/) includes nothing of the CLI's;
#   - the control API (core/daemon/vb-control*.c) does not reach back into the
#     daemon that serves it (vb-daemon-private.h): data flows one way;
#   - a plugin includes only the installed SDK headers and its own;
#   - vestibulectl, as built, defines no function of the daemon's library.
#
# A failure names the file, the line and the header, and says which rule it
# breaks. Run by meson test with VB_SOURCE_ROOT set, or with the source root as
# the first argument.

import os
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
# made by meson in the build tree, for every part
GENERATED = {"config.h", "vb-version.h"}


def sources(root, part):
    top = os.path.join(root, part)
    for dirpath, _dirnames, filenames in os.walk(top):
        for name in sorted(filenames):
            if name.endswith((".c", ".h")):
                yield os.path.join(dirpath, name)


def includes(path):
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                yield lineno, m.group(1)


def headers_of(root, part):
    return {os.path.basename(p) for p in sources(root, part) if p.endswith(".h")}


def public_headers(root):
    # the installed headers: the vb_public_headers list of the SDK's meson.build
    with open(os.path.join(root, "core", "libvestibule", "meson.build"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"vb_public_headers\s*=\s*files\((.*?)\)", text, re.S)
    if not m:
        raise SystemExit("Bail out! no vb_public_headers in core/libvestibule/meson.build")
    return set(re.findall(r"'([^']+\.h)'", m.group(1))) | {"vb-version.h"}


def defined_functions(path):
    out = subprocess.run(["nm", "--defined-only", path], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"Bail out! nm {path}: {out.stderr.strip()}")
    names = set()
    for line in out.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] in "Tt" and fields[2].startswith("vb_"):
            names.add(fields[2])
    return names


def main():
    root = os.environ.get("VB_SOURCE_ROOT") or (sys.argv[1] if len(sys.argv) > 1 else None)
    if not root:
        print("Bail out! VB_SOURCE_ROOT is not set; run this with meson test")
        return 1

    sdk = headers_of(root, "core/libvestibule")
    daemon = headers_of(root, "core/daemon")
    ctl = headers_of(root, "core/ctl")
    public = public_headers(root)
    part_of = {}
    for name in sdk:
        part_of[name] = "the SDK"
    for name in daemon:
        part_of[name] = "the daemon"
    for name in ctl:
        part_of[name] = "the CLI"

    checks = []

    def rule(description, part, allowed, extra=None):
        problems = []
        for path in sources(root, part):
            local = {os.path.basename(p) for p in sources(root, os.path.dirname(
                os.path.relpath(path, root)))} if part.startswith("plugins") else set()
            for lineno, header in includes(path):
                name = os.path.basename(header)
                if name in GENERATED or name in local:
                    continue
                why = extra(path, name) if extra else None
                if why is None and name not in allowed:
                    owner = part_of.get(name, "no part of core/")
                    why = f"{name} belongs to {owner}"
                if why:
                    problems.append(f"{os.path.relpath(path, root)}:{lineno}: {why}")
        checks.append((description, problems))

    rule("the SDK includes nothing of the daemon's or the CLI's", "core/libvestibule", sdk)
    rule("the CLI includes nothing of the daemon's", "core/ctl", sdk | ctl)
    rule("the daemon includes nothing of the CLI's", "core/daemon", sdk | daemon)

    def control_reaches_back(path, name):
        base = os.path.basename(path)
        if base.startswith("vb-control") and name == "vb-daemon-private.h":
            return "the control API includes vb-daemon-private.h: it must use only the services it is given"
        return None

    rule("the control API does not call back into the daemon", "core/daemon", sdk | daemon,
         control_reaches_back)

    def plugin_header(path, name):
        if name not in public:
            return f"{name} is not an installed SDK header: a plugin uses the SDK only"
        return None

    rule("plugins include only the installed SDK headers", "plugins", public, plugin_header)

    # the CLI's program carries no code of the daemon's: no function that the
    # daemon's static library defines is defined in vestibulectl
    build = os.environ.get("VB_BUILD_ROOT")
    if build:
        daemon_lib = os.path.join(build, "core", "daemon", "libvestibuled.a")
        ctl_exe = os.path.join(build, "core", "ctl", "vestibulectl")
        shared = sorted(defined_functions(daemon_lib) & defined_functions(ctl_exe))
        checks.append(("vestibulectl links no code of the daemon's",
                       [f"vestibulectl defines {name}, a function of core/daemon/" for name in shared]))

    print(f"1..{len(checks)}")
    failed = 0
    for n, (description, problems) in enumerate(checks, 1):
        if problems:
            failed += 1
            print(f"not ok {n} {description}")
            for p in problems:
                print(f"# {p}")
        else:
            print(f"ok {n} {description}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
