#!/usr/bin/env bash
# The layers of lib/ hold: every #include "x.h" in lib/<layer>/ names a
# header of the same layer or of one below it (the order of BALLAST_LAYERS
# in CMakeLists.txt, written down in docs/DESIGN.md); no two modules include
# each other; nothing lives in lib/ outside a layer folder; every header
# a binary or a module includes exists in exactly one layer; docs/DESIGN.md's
# layer table lists exactly the modules each folder has.
# services:
. "$(dirname "$0")/lib.sh"
cd "$S"
out=$(python3 - <<'PY'
import os, re, sys
order = re.search(r'set\(BALLAST_LAYERS ([a-z ]+)\)', open('CMakeLists.txt').read()).group(1).split()
rank = {l: i for i, l in enumerate(order)}
where, problems = {}, []
for l in order:
    for f in sorted(os.listdir(f'lib/{l}')):
        if f.endswith('.h'):
            if f in where:
                problems.append(f'lib/{l}/{f}: also in lib/{where[f]}/')
            where[f] = l
for f in os.listdir('lib'):
    if os.path.isfile(f'lib/{f}'):
        problems.append(f'lib/{f}: outside a layer folder')
inc = re.compile(r'^#include "([^"/]+\.h)"', re.M)
edges = set()
for l in order:
    for f in sorted(os.listdir(f'lib/{l}')):
        mod = f.rsplit('.', 1)[0]
        for h in inc.findall(open(f'lib/{l}/{f}').read()):
            if h not in where:
                problems.append(f'lib/{l}/{f}: includes "{h}", which no layer has')
                continue
            if rank[where[h]] > rank[l]:
                problems.append(f'lib/{l}/{f}: includes "{h}" from lib/{where[h]}/, a layer above {l}/')
            if h[:-2] != mod:
                edges.add((mod, h[:-2]))
# A module is a .c file and its header; a header without a .c file (a
# driver interface such as repo_driver.h) belongs to the module it extends.
modules = {f[:-2] for l in order for f in os.listdir(f'lib/{l}') if f.endswith('.c')}
for a, b in sorted(edges):
    if a in modules and b in modules and (b, a) in edges and a < b:
        problems.append(f'modules {a} and {b} include each other')
for tool in ('backup', 'migrate', 'deploy'):
    for f in sorted(os.listdir(tool)):
        for h in inc.findall(open(f'{tool}/{f}').read()):
            if h not in where and not os.path.exists(f'{tool}/{h}'):
                problems.append(f'{tool}/{f}: includes "{h}", which neither lib/ nor {tool}/ has')
# docs/DESIGN.md's layer table names every module of each layer, and only those.
rows = {}
for line in open('docs/DESIGN.md'):
    m = re.match(r'\| `([a-z]+)/` \|[^|]*\| (.*) \|$', line.rstrip())
    if m:
        rows[m.group(1)] = set(re.findall(r'`([a-z_0-9]+)(?:\.h)?`', m.group(2)))
for l in order:
    have = {f.rsplit('.', 1)[0] for f in os.listdir(f'lib/{l}') if f.endswith(('.c', '.h'))}
    doc = rows.get(l, set())
    for mod in sorted(have - doc):
        problems.append(f'docs/DESIGN.md: lib/{l}/{mod} is not in the {l}/ row of the layer table')
    for mod in sorted(doc - have):
        problems.append(f'docs/DESIGN.md: the {l}/ row names {mod}, which lib/{l}/ does not have')
print('\n'.join(problems))
PY
)
if [ -n "$out" ]; then
	while IFS= read -r line; do t_fail "$line"; done <<<"$out"
else
	t_ok
fi
t_done
