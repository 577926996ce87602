import os
import sys

# The benchmarks reuse the workshop (nova_zun_workshop/) of the source tree.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from benchmarks import cli  # noqa: E402

sys.exit(cli.main())
