#!/usr/bin/env python3
"""Import circles inside each crate of the workspace (across crates the compiler forbids them).

Every `crate::`, `super::` and `self::` path a module names (in `use` trees and in code,
test modules left out) is resolved to the module file that defines it. At every level of the
module tree, the children of one module, each standing for its whole subtree, must use each
other without a circle; a module and its own parent or child may use each other freely.

    python3 .ci/module-circles.py              # every workspace crate (from cargo metadata)
    python3 .ci/module-circles.py DIR/src ...  # these source trees
    python3 .ci/module-circles.py --self-test  # shows that a circle is found

Exit 1 and each circle with the uses that make it, or exit 0."""
import re, sys, os, pathlib
from collections import defaultdict

def strip_comments(s):
    s = re.sub(r'/\*.*?\*/', '', s, flags=re.S)
    s = re.sub(r'//[^\n]*', '', s)
    s = re.sub(r'"(\\.|[^"\\])*"', '""', s)
    return s

def expand(tree):
    # tree: text like a::{b, c::{d, e}}, f -> list of paths
    out = []
    def parse(s, i, prefix):
        # parse a list of items until '}' or end
        items = []
        cur = ''
        while i < len(s):
            ch = s[i]
            if ch == '{':
                base = prefix + [p for p in cur.strip().strip(':').split('::') if p]
                i = parse(s, i + 1, base)
                cur = ''
                continue
            if ch == '}':
                if cur.strip(): out.append(prefix + [p for p in cur.strip().split(' as ')[0].split('::') if p])
                return i + 1
            if ch == ',':
                if cur.strip(): out.append(prefix + [p for p in cur.strip().split(' as ')[0].split('::') if p])
                cur = ''
                i += 1
                continue
            cur += ch
            i += 1
        if cur.strip(): out.append(prefix + [p for p in cur.strip().split(' as ')[0].split('::') if p])
        return i
    parse(tree, 0, [])
    return out

def modules(src):
    mods = {}
    for f in src.rglob('*.rs'):
        rel = f.relative_to(src)
        parts = list(rel.with_suffix('').parts)
        if parts[-1] in ('mod', 'lib', 'main'):
            parts = parts[:-1]
        mods[tuple(parts)] = f
    return mods

def resolve(mods, path):
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in mods:
            return tuple(path[:n])
    return None

def edges(src):
    mods = modules(src)
    g = defaultdict(set)
    for m, f in mods.items():
        if f.name == 'main.rs' and m == ():
            continue
        text = strip_comments(f.read_text())
        # only non-test code: drop #[cfg(test)] mod tests { ... } crudely: cut at '#[cfg(test)]'
        text = text.split('#[cfg(test)]')[0]
        paths = []
        for u in re.finditer(r'\buse\s+([^;]*);', text, flags=re.S):
            paths += expand(u.group(1).replace('\n', ' '))
        for p in re.finditer(r'\b((?:crate|super|self)(?:::\w+)+)', text):
            paths.append(p.group(1).split('::'))
        for p in paths:
            p = [x.strip() for x in p if x.strip()]
            if not p: continue
            if p[0] == 'crate': base = []; p = p[1:]
            elif p[0] in ('super', 'self'):
                base = list(m)
                while p and p[0] in ('super', 'self'):
                    if p[0] == 'super': base = base[:-1]
                    p = p[1:]
            else: continue
            t = resolve(mods, base + p)
            if t is not None and t != m and t != ():
                g[m].add(t)
    return mods, g

def sccs(nodes, g):
    index = {}; low = {}; st = []; on = set(); out = []; c = [0]
    sys.setrecursionlimit(10000)
    def strong(v):
        index[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
        for w in g.get(v, ()):
            if w not in index: strong(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = st.pop(); on.discard(w); comp.append(w)
                if w == v: break
            out.append(comp)
    for v in nodes:
        if v not in index: strong(v)
    return out

def is_family(a, b):
    return a[:len(b)] == b or b[:len(a)] == a

def main(roots):
    """At every level of the module tree the children of one module (each standing for its whole
    subtree) must use each other without a circle; a module and its own parent or child may use
    each other freely (a parent declares its children, a child takes its parent's names)."""
    bad = 0
    for root in roots:
        src = pathlib.Path(root)
        mods, g = edges(src)
        for parent in sorted(mods):
            kids = sorted(m for m in mods if len(m) == len(parent) + 1 and m[:len(parent)] == parent)
            if len(kids) < 2:
                continue
            n = len(parent) + 1
            level = defaultdict(set)
            why = defaultdict(set)
            for a, bs in g.items():
                if a[:len(parent)] != parent or len(a) < n:
                    continue
                for b in bs:
                    if b[:len(parent)] != parent or len(b) < n or a[:n] == b[:n]:
                        continue
                    level[a[:n]].add(b[:n])
                    why[(a[:n], b[:n])].add(('::'.join(a), '::'.join(b)))
            for comp in sccs(kids, level):
                if len(comp) < 2:
                    continue
                bad += 1
                cs = set(comp)
                print(f'{root}: circle among the children of `{"::".join(parent) or "crate"}`: '
                      + ', '.join(sorted('::'.join(c) for c in comp)))
                for a in sorted(comp):
                    for b in sorted(level[a]):
                        if b in cs:
                            print('    ' + '::'.join(a) + ' -> ' + '::'.join(b) + ': '
                                  + '; '.join(f'{x} uses {y}' for x, y in sorted(why[(a, b)])))
    return 1 if bad else 0

def workspace_sources():
    import json, subprocess
    meta = json.loads(subprocess.check_output(['cargo', 'metadata', '--no-deps', '--format-version', '1']))
    roots = set()
    for package in meta['packages']:
        for target in package['targets']:
            if {'lib', 'bin'} & set(target['kind']):
                roots.add(os.path.dirname(target['src_path']))
    return sorted(roots)

def self_test():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        src = pathlib.Path(d)
        (src / 'lib.rs').write_text('pub mod a;\npub mod b;\npub mod c;\n')
        (src / 'a.rs').write_text('use crate::b::B;\npub struct A;\n')
        (src / 'b').mkdir()
        (src / 'b' / 'mod.rs').write_text('pub mod inner;\npub struct B;\nuse super::c;\n')
        (src / 'b' / 'inner.rs').write_text('use super::B;\nuse crate::{a::A};\n')
        (src / 'c.rs').write_text('#[cfg(test)]\nmod tests { use crate::a::A; }\n')
        found = main([str(src)])
        (src / 'b' / 'inner.rs').write_text('use super::B;\n')
        clean = main([str(src)])
    if (found, clean) != (1, 0):
        sys.exit(f'self-test failed: circle a -> b::inner -> a reported {found == 1}, clean tree passed {clean == 0}')
    print('self-test: the circle a -> b -> a (through b::inner) was found, and the tree without it passed')
    return 0

if __name__ == '__main__':
    args = sys.argv[1:]
    if args == ['--self-test']:
        sys.exit(self_test())
    sys.exit(main(args or workspace_sources()))
