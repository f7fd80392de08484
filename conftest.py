"""Root pytest configuration.

Under ``--import-mode=importlib`` pytest imports each module it collects for
doctests (``statjax/samplers/nuts.py``) and binds it on its package, replacing
the function the package re-exports under the same name (``statjax.samplers.nuts``
becomes the module). Outside pytest, Python never rebinds an imported name, so the
tests must see what users see: after collection the re-exported functions are
bound again.
"""

import inspect
import sys


def _rebind_reexports() -> None:
    for package_name, package in list(sys.modules.items()):
        if not package_name.startswith("statjax") or not hasattr(package, "__path__"):
            continue
        for name in getattr(package, "__all__", ()):
            value = getattr(package, name, None)
            shadowed = (
                inspect.ismodule(value)
                and value.__name__ == f"{package_name}.{name}"
                and hasattr(value, name)
                and not inspect.ismodule(getattr(value, name))
            )
            if shadowed:
                setattr(package, name, getattr(value, name))


def pytest_collection_finish(session) -> None:  # noqa: D103 - pytest hook
    _rebind_reexports()
