"""nova-zun benchmarks: how close ZunDriver comes to the bare engine.

Run ``python -m benchmarks [--quick] [--json FILE]``; see README.rst.
"""
