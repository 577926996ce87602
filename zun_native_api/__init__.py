"""A Zun-compatible container API for what only containers can do.

Wire-compatible with Zun's v1 API where the operations overlap, so
unmodified python-zunclient works. It uses :mod:`nova_zun.runtime` and
:mod:`nova_zun.conf`, never the Nova driver.
"""

from zun_native_api.app import create_app

__all__ = ['create_app']
