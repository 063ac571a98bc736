"""Shared test configuration."""
from __future__ import annotations

# npm's folder for the browser check holds no tests.
collect_ignore = ["browser/node_modules"]


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: drives chromium over the built book (make test runs these after the build)",
    )
