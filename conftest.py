"""Root pytest configuration.

Under ``--import-mode=importlib`` pytest imports each module it collects for
doctests (``statjax/samplers/nuts.py``) and binds it on its package, replacing
the function the package re-exports under the same name (``statjax.samplers.nuts``
becomes the module). Outside pytest, Python never rebinds an imported name, so the
tests must see what users see: the public names of every statjax package are
recorded before collection and bound again after it.
"""

import sys

import statjax


def _public_bindings() -> dict:
    return {
        (package_name, name): getattr(package, name)
        for package_name, package in list(sys.modules.items())
        if package_name.startswith("statjax") and hasattr(package, "__path__")
        for name in getattr(package, "__all__", ())
        if hasattr(package, name)
    }


_BEFORE_COLLECTION = _public_bindings()
assert statjax.__all__  # every subpackage is imported by `import statjax`


def pytest_collection_finish(session) -> None:  # noqa: D103 - pytest hook
    for (package_name, name), value in _BEFORE_COLLECTION.items():
        setattr(sys.modules[package_name], name, value)
