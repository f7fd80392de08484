"""mkdocs hook: an API page lists every name in its package's ``__all__``.

A page under ``docs/api/`` holds one marker line, ``<!-- api: statjax.samplers -->``;
this hook replaces it with one mkdocstrings directive per public name, pointing
at the object's canonical path (``statjax.samplers.hmc.hmc`` for the function
re-exported as ``statjax.samplers.hmc``, which a module of the same name would
otherwise shadow). A name added to ``__all__`` appears in the reference with no
edit here; ``docs/check_api.py`` verifies after the build that every one did.
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
import re

MARKER = re.compile(r"<!-- api: ([\w.]+) -->")


def public_names(module_name: str) -> list[str]:
    """The names a page documents: the module's ``__all__`` (or its public globals)."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and not inspect.ismodule(value)
            and getattr(value, "__module__", module_name) == module_name
        ]
    return list(names)


def canonical_path(module_name: str, name: str) -> str:
    """Where the object behind ``module_name.name`` is defined (its docs live there)."""
    value = getattr(importlib.import_module(module_name), name)
    if inspect.ismodule(value):
        return value.__name__
    owner = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if (inspect.isclass(value) or inspect.isfunction(value)) and owner and qualname:
        if "<" not in qualname and owner.startswith("statjax"):
            return f"{owner}.{qualname}"
    return f"{module_name}.{name}"


def page_modules(docs_dir: str | pathlib.Path) -> list[str]:
    """The modules that have an API page (their markers under ``docs/api/``)."""
    pages = sorted(pathlib.Path(docs_dir, "api").glob("*.md"))
    return [match for page in pages for match in MARKER.findall(page.read_text())]


def home_page(path: str, modules: list[str]) -> str:
    """The page that documents ``path``: the module with the longest prefix of it.

    A name re-exported by several packages (``statjax.Pytree`` and
    ``statjax.pytree.Pytree``) is documented once, on its most specific page;
    the others link to it.
    """
    owners = [
        module
        for module in modules
        if path == module
        or any(canonical_path(module, name) == path for name in public_names(module))
    ]
    return max(owners, key=len) if owners else ""


def _directives(module_name: str, modules: list[str]) -> str:
    blocks = [f"::: {module_name}\n    options:\n      members: false\n      heading_level: 1"]
    links = []
    for name in public_names(module_name):
        value = getattr(importlib.import_module(module_name), name)
        path = canonical_path(module_name, name)
        home = home_page(path, modules)
        if inspect.ismodule(value) and path in modules:
            links.append(f"- [`{name}`][{path}]: the `{path}` page")
        elif inspect.ismodule(value):
            blocks.append(f"::: {path}\n    options:\n      members: false\n      heading_level: 2")
        elif home and home != module_name:
            links.append(f"- [`{name}`][{path}]: documented with `{home}`")
        else:
            blocks.append(f"::: {path}\n    options:\n      heading_level: 2")
    text = "\n\n".join(blocks)
    if links:
        text += "\n\n## Re-exported here\n\n" + "\n".join(links)
    return text


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: D103 - mkdocs hook
    modules = page_modules(config["docs_dir"])
    return MARKER.sub(lambda match: _directives(match.group(1), modules), markdown)
