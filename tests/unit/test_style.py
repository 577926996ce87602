"""The tree passes flake8 with OpenStack's hacking checks (tox -e pep8),
so the style gate runs wherever the suite runs, CI included."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def test_the_tree_passes_flake8():
    result = subprocess.run([sys.executable, '-m', 'flake8'], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
