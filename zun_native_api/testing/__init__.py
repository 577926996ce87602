"""Test tooling of the native API: a real Keystone, native API servers."""
