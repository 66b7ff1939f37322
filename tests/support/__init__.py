"""Helpers the tests share: servers, clients, hubs, the browser, waiting.

Test modules and conftest files import from here, never from each other
(tests/codebase/test_test_imports.py keeps it so); conftest files only
declare fixtures built on these helpers.
"""
