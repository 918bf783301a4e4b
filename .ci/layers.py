#!/usr/bin/env python3
"""The engine's layers point one way: each module imports only modules of a lower layer
(or its own), nothing imports the facade, and the folders form no cycle.

Reads every `crate::<module>` path in engine/src; prints each violation and exits 1.
Cheaper than cargo-modules (which would cost CI a long build) and enough for one crate.
"""
import pathlib
import re
import sys

# Lowest first. Modules on one line are siblings: neither may import the other.
LAYERS = [
    ["error"],
    ["ids", "clock"],
    ["model"],
    ["text"],
    ["experiment", "transcript"],
    ["rules"],
    ["decide", "store"],
    ["conversation"],
    ["engine"],
]
RANK = {m: i for i, layer in enumerate(LAYERS) for m in layer}
SRC = pathlib.Path(__file__).resolve().parent.parent / "engine" / "src"
CRATE_PATH = re.compile(r"\bcrate::([a-z_]+)")
USE_GROUP = re.compile(r"\buse crate::\{([^}]*)\}", re.S)


def module_of(path: pathlib.Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imports(text: str) -> set:
    # Comments and doc comments may name modules; only code counts.
    code = "\n".join(line.split("//")[0] for line in text.splitlines())
    found = set(CRATE_PATH.findall(code))
    for group in USE_GROUP.findall(code):
        found.update(re.findall(r"^\s*([a-z_]+)", part)[0] for part in group.split(",") if part.strip())
    return found


def main() -> int:
    problems = []
    edges = {}
    for path in sorted(SRC.rglob("*.rs")):
        here = module_of(path)
        if here == "lib":
            continue
        if here not in RANK:
            problems.append(f"{path}: module `{here}` has no layer in .ci/layers.py")
            continue
        for there in imports(path.read_text()) - {here}:
            if there not in RANK:
                continue
            edges.setdefault(here, set()).add(there)
            if there == "engine":
                problems.append(f"{path}: imports the facade (crate::engine)")
            elif RANK[there] >= RANK[here]:
                problems.append(
                    f"{path}: `{here}` (layer {RANK[here]}) imports `{there}` (layer {RANK[there]}): arrows point down only"
                )
    # Any cycle between folders (redundant with the ranks, but says it plainly).
    def visit(node, stack):
        for nxt in edges.get(node, ()):
            if nxt in stack:
                problems.append("cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif len(stack) < len(RANK):
                visit(nxt, stack + [nxt])
    for start in list(edges):
        visit(start, [start])
    for p in sorted(set(problems)):
        print(p)
    if problems:
        return 1
    print(f"layers ok: {len(edges)} modules, every import points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
