"""The development workshop of nova-zun, never installed (``pip install .``
ships only nova_zun, zun_native_api and the nova.virt.zun shim).

What developers, tests, benchmarks and the all-in-one cloud run beside the
product: private engines, Open vSwitch, registry, Keystone, Glance and
native API servers, the test images, the demo, the all-in-one, and the
harness of Nova's in-process functional framework. Run it from the top of
the source tree (``.venv/bin/python -m nova_zun_workshop.<tool>``); it
imports the product, never the tests or the benchmarks.
"""
