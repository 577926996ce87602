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
