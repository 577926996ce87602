#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Who imports whom among the four parts of the tree (DESIGN.md, Product
and workshop): the installed product (nova_zun, zun_native_api and the
nova.virt.zun shim), the development workshop (nova_zun_workshop), the
tests and the benchmarks. Each part imports only the parts below it, so
nothing installed imports the others and no two parts import each other.
"""

import ast
import collections
import graphlib
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: Where each part's modules live, relative to ROOT.
PARTS = {
    'product': ('nova_zun', 'zun_native_api', 'nova/virt/zun'),
    'workshop': ('nova_zun_workshop',),
    'benchmarks': ('benchmarks',),
    'tests': ('tests',),
}
#: The parts each part may import: a strict order, product at the bottom.
MAY_IMPORT = {
    'product': set(),
    'workshop': {'product'},
    'benchmarks': {'product', 'workshop'},
    'tests': {'product', 'workshop', 'benchmarks'},
}


def _part_of_module(name):
    """The part a dotted module name belongs to (None: not the tree's)."""
    for part, dirs in PARTS.items():
        for d in dirs:
            package = d.replace('/', '.')
            if name == package or name.startswith(package + '.'):
                return part
    return None


def _imported_modules(path):
    """Every module ``path`` imports, at its top or inside a function."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, '%s: relative import' % path
            yield node.module


def _imports_between_parts():
    """Every import that crosses from one part into another.

    The result is ``{(importer part, imported part): ['file imports module',
    ...]}``.
    """
    crossing = collections.defaultdict(list)
    for part, dirs in PARTS.items():
        for d in dirs:
            files = sorted((ROOT / d).rglob('*.py'))
            assert files, 'no module below %s' % d
            for path in files:
                for module in _imported_modules(path):
                    target = _part_of_module(module)
                    if target not in (None, part):
                        crossing[part, target].append('%s imports %s' % (
                            path.relative_to(ROOT), module))
    return crossing


def test_each_part_imports_only_the_parts_below_it():
    crossing = _imports_between_parts()
    forbidden = {edge: sorted(set(found))
                 for edge, found in crossing.items()
                 if edge[1] not in MAY_IMPORT[edge[0]]}
    assert {} == forbidden


def test_the_parts_import_each_other_in_no_cycle():
    graph = collections.defaultdict(set)
    for importer, imported in _imports_between_parts():
        graph[importer].add(imported)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError('import cycle between parts: %s'
                             % ' -> '.join(exc.args[1]))


#: Product modules that never import Nova, also through the modules they
#: import: the runtime (DESIGN.md), the native API (it speaks to Nova over
#: HTTP only), the layer format and the image tool (they run without Nova).
NOVA_FREE = ('nova_zun.runtime', 'zun_native_api', 'nova_zun.glance_layers',
             'nova_zun.image_tool')


def _module_of(path):
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def _nova_chain(start, imports):
    """An import chain from ``start`` to Nova within the product, or None."""
    seen, todo = {start: [start]}, [start]
    while todo:
        module = todo.pop()
        for imported in imports.get(module, ()):
            if imported == 'nova' or imported.startswith('nova.'):
                return seen[module] + [imported]
            for candidate in imports:
                if candidate not in seen and (
                        imported == candidate or
                        imported.startswith(candidate + '.')):
                    seen[candidate] = seen[module] + [candidate]
                    todo.append(candidate)
    return None


def _imported_names(path):
    """What ``path`` imports, ``from a import b`` also as ``a.b``."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module
            yield from ('%s.%s' % (node.module, alias.name)
                        for alias in node.names)


def test_the_nova_free_modules_import_no_nova():
    imports = {}
    for d in ('nova_zun', 'zun_native_api'):
        for path in sorted((ROOT / d).rglob('*.py')):
            imports[_module_of(path)] = set(_imported_names(path))
    found = {module: _nova_chain(module, imports) for module in imports
             if any(module == free or module.startswith(free + '.')
                    for free in NOVA_FREE)}
    assert {} == {m: ' -> '.join(chain) for m, chain in found.items()
                  if chain}
