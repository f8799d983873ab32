#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The linker-checked ABI of libvestibule.so, both ways:
#   - the VESTIBULE_1 node exports exactly what the installed headers declare,
#     with the vb_*_get_type() of every type they declare;
#   - the VESTIBULE_PRIVATE node exports exactly what the uninstalled
#     core/libvestibule/*-private.h declare, less what is G_GNUC_INTERNAL;
#   - the version script lists the same, so that an entry the linker drops
#     (a symbol not built into the library, or hidden) is caught too;
#   - no in-tree plugin imports a symbol of the VESTIBULE_PRIVATE node.
# Output is TAP; each failure names the symbol and where it is declared.
#
# usage: abi-check.py LIBVESTIBULE.so SDK_DIR PUBLIC_HEADER... -- PLUGIN.so...
# where SDK_DIR holds the *-private.h and libvestibule.map

import os
import re
import subprocess
import sys

PUBLIC_NODE = "VESTIBULE_1"
PRIVATE_NODE = "VESTIBULE_PRIVATE"
# a minor release may add its symbols in a node of its own, VESTIBULE_1.3
PUBLIC_NODE_RE = re.compile(r"^VESTIBULE_1(\.\d+)?$")

# a declaration starts at the beginning of a line, the return type on the line
# before, as .clang-format lays it out; gtk-doc examples start with " *"
DECL_RE = re.compile(r"^(vb_\w+)\s*\(", re.M)
TYPE_RE = re.compile(
    r"^(?:G_DECLARE_(?:FINAL|DERIVABLE)_TYPE|G_DECLARE_INTERFACE)\s*\(\s*\w+\s*,\s*(vb_\w+)\s*,",
    re.M,
)
TYPE_DEFINE_RE = re.compile(r"^#define\s+VB_TYPE_\w+\s+\(\s*(vb_\w+_get_type)\s*\(\s*\)\s*\)", re.M)


def strip_comments(text):
    # comments become blank lines, so that line numbers stay right
    return re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)


def declarations(path):
    """{symbol: 'file:line'} of the functions @path declares, but internal ones"""
    with open(path, encoding="utf-8") as f:
        text = strip_comments(f.read())
    name = os.path.basename(path)
    found = {}

    def line_of(pos):
        return text.count("\n", 0, pos) + 1

    for m in DECL_RE.finditer(text):
        # the return type and its attributes sit on the line before
        start = text.rfind("\n", 0, m.start() - 1) + 1
        if "G_GNUC_INTERNAL" in text[start : m.start()]:
            continue
        found[m.group(1)] = f"{name}:{line_of(m.start())}"
    for m in TYPE_RE.finditer(text):
        found[m.group(1) + "_get_type"] = f"{name}:{line_of(m.start())}"
    for m in TYPE_DEFINE_RE.finditer(text):
        found.setdefault(m.group(1), f"{name}:{line_of(m.start())}")
    return found


def map_nodes(path):
    """{node: {symbol: 'file:line'}} of the global entries of a version script"""
    nodes = {}
    node = None
    is_global = True
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^([A-Za-z_][\w.]*)\s*\{$", line)
            if m:
                node, is_global = m.group(1), True
                nodes.setdefault(node, {})
            elif line.startswith("}"):
                node = None
            elif line in ("global:", "local:"):
                is_global = line == "global:"
            elif node is not None and is_global and line.endswith(";"):
                nodes[node][line[:-1].strip()] = f"{os.path.basename(path)}:{n}"
    return nodes


def dyn_syms(path):
    """[(name, version, defined, default)] of @path's dynamic symbols"""
    out = subprocess.run(
        ["readelf", "--dyn-syms", "--wide", path], check=True, capture_output=True, text=True
    ).stdout
    syms = []
    for line in out.splitlines():
        fields = line.split()
        # Num: Value Size Type Bind Vis Ndx Name [(n)]
        if len(fields) < 8 or not fields[0].rstrip(":").isdigit():
            continue
        kind, ndx, name = fields[3], fields[6], fields[7]
        if kind in ("SECTION", "FILE") or not name:
            continue
        version = ""
        default = False
        if "@@" in name:
            name, version = name.split("@@", 1)
            default = True
        elif "@" in name:
            name, version = name.split("@", 1)
        # each version node also defines an absolute symbol of its name
        if ndx == "ABS" and name.startswith("VESTIBULE_"):
            continue
        syms.append((name, version, ndx != "UND", default))
    return syms


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, ok, what, problems):
        self.n += 1
        if not ok:
            self.failed += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {what}")
        for p in problems:
            print(f"# {p}")
            # meson shows stderr with a failure, not the TAP diagnostics
            print(f"{what}: {p}", file=sys.stderr)


def compare(tap, node, declared, exported, decl_desc):
    missing = sorted(set(declared) - set(exported))
    extra = sorted(set(exported) - set(declared))
    problems = [f"missing from {node}: {s}, declared at {declared[s]}" for s in missing]
    problems += [
        f"extra in {node}: {s} is exported but declared in no {decl_desc}" for s in extra
    ]
    tap.check(
        not problems,
        f"{node} exports exactly the {len(declared)} functions of the {decl_desc}",
        problems,
    )


def main(argv):
    if "--" not in argv or len(argv) < 4:
        print(f"Bail out! usage: {argv[0]} LIB.so SDK_DIR HEADER... -- PLUGIN.so...")
        return 1
    sep = argv.index("--")
    lib, sdk_dir, headers, plugins = argv[1], argv[2], argv[3:sep], argv[sep + 1 :]

    public = {}
    for h in headers:
        public.update(declarations(h))
    private = {}
    for h in sorted(os.listdir(sdk_dir)):
        if h.endswith("-private.h"):
            private.update(declarations(os.path.join(sdk_dir, h)))
    both = sorted(set(public) & set(private))

    syms = [s for s in dyn_syms(lib) if s[2]]
    by_node = {}
    for name, version, _, _ in syms:
        by_node.setdefault(version, {})[name] = True
    exported_public = {}
    for version in [v for v in by_node if PUBLIC_NODE_RE.match(v)]:
        exported_public.update(by_node.pop(version))
    exported_private = by_node.pop(PRIVATE_NODE, {})

    print("1..7")
    tap = Tap()
    # the version nodes themselves are absolute symbols named after the node
    stray = [
        f"{name} is exported in version '{version or '(none)'}'"
        for version, names in sorted(by_node.items())
        for name in sorted(names)
    ]
    stray += [f"{s} is declared in a public and a private header" for s in both]
    tap.check(
        not stray,
        f"every symbol of {os.path.basename(lib)} is in {PUBLIC_NODE} or {PRIVATE_NODE}",
        stray,
    )
    compare(tap, PUBLIC_NODE, public, exported_public, "installed headers")
    compare(tap, PRIVATE_NODE, private, exported_private, "core/libvestibule/*-private.h")

    listed = map_nodes(os.path.join(sdk_dir, "libvestibule.map"))
    listed_public = {}
    for node in [n for n in listed if PUBLIC_NODE_RE.match(n)]:
        listed_public.update(listed.pop(node))
    listed_private = listed.pop(PRIVATE_NODE, {})
    for desc, declared, entries, node in (
        ("installed headers", public, listed_public, PUBLIC_NODE),
        ("core/libvestibule/*-private.h", private, listed_private, PRIVATE_NODE),
    ):
        problems = [
            f"libvestibule.map lists {s} in {node} (at {entries[s]}), but no {desc} "
            "declares it"
            for s in sorted(set(entries) - set(declared))
        ]
        problems += [
            f"libvestibule.map does not list {s} in {node}, declared at {declared[s]}"
            for s in sorted(set(declared) - set(entries))
        ]
        problems += [f"libvestibule.map has an unknown node {n}" for n in sorted(listed)]
        listed = {}
        tap.check(not problems, f"libvestibule.map lists in {node} exactly the {desc}", problems)

    imports = []
    for plugin in plugins:
        for name, version, defined, _ in dyn_syms(plugin):
            if not defined and version == PRIVATE_NODE:
                where = private.get(name, "an unknown header")
                imports.append(
                    f"{os.path.basename(plugin)} imports {name}@{PRIVATE_NODE}, host-only "
                    f"API declared at {where}"
                )
    tap.check(
        not imports,
        f"none of the {len(plugins)} in-tree plugins imports from {PRIVATE_NODE}",
        imports,
    )
    # a plugin that links the SDK binds its references to a version
    unversioned = []
    for plugin in plugins:
        for name, version, defined, _ in dyn_syms(plugin):
            if not defined and name.startswith("vb_") and not version:
                unversioned.append(f"{os.path.basename(plugin)} imports {name} unversioned")
    tap.check(
        not unversioned,
        "every SDK symbol the plugins import is bound to a version node",
        unversioned,
    )
    print(
        f"# {PUBLIC_NODE}: {len(exported_public)} symbols, "
        f"{PRIVATE_NODE}: {len(exported_private)} symbols"
    )
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
