"""After ``mkdocs build``: every public name of every API page is in the built reference.

Reads the site's ``objects.inv`` (the Sphinx inventory mkdocstrings writes) and
checks that each name in the ``__all__`` of each package that has a page under
``docs/api/`` is there under its canonical path. Exit 1 with the missing names.

    python docs/check_api.py site
"""

from __future__ import annotations

import pathlib
import sys
import zlib

sys.path.insert(0, str(pathlib.Path(__file__).parent / "hooks"))

from api_pages import MARKER, canonical_path, public_names


def inventory(site: pathlib.Path) -> set[str]:
    """The object names in the site's ``objects.inv`` (four header lines, then zlib)."""
    data = (site / "objects.inv").read_bytes().split(b"\n", 4)[4]
    return {line.split()[0] for line in zlib.decompress(data).decode().splitlines() if line}


def main(site: str) -> int:
    """Report public names missing from the built reference; 0 if none."""
    found = inventory(pathlib.Path(site))
    pages = sorted((pathlib.Path(__file__).parent / "api").glob("*.md"))
    modules = [match for page in pages for match in MARKER.findall(page.read_text())]
    missing = [
        f"{module}.{name} (as {canonical_path(module, name)})"
        for module in modules
        for name in public_names(module)
        if canonical_path(module, name) not in found
    ]
    checked = sum(len(public_names(module)) for module in modules)
    if missing:
        print(f"{len(missing)} of {checked} public names missing from the API reference:")
        print("\n".join(f"  {entry}" for entry in missing))
        return 1
    print(f"API reference: all {checked} public names of {len(modules)} modules present.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "site"))
