"""The Mojo source of one function, struct or constant, to show on a page.

A chapter prints exactly the code that runs: :func:`source` cuts it out of
``kernels/*.mojo``, with its decorators and docstring.
"""

from __future__ import annotations

import re

from cnnlab.mojo.build import KERNEL_DIR

__all__ = ["source", "names"]

_HEADER = re.compile(
    r"^(?:__async\s+)?(?:def|fn|struct|trait|comptime)\s+(?P<name>\w+)", re.MULTILINE
)


def _definitions() -> dict[str, str]:
    """Every top-level definition of the kernels, by name."""
    found: dict[str, str] = {}
    for path in sorted(KERNEL_DIR.glob("*.mojo")):
        lines = path.read_text().splitlines()
        for start, line in enumerate(lines):
            match = _HEADER.match(line)
            if match is None:
                continue
            first = start
            while first > 0 and lines[first - 1].startswith("@"):
                first -= 1
            end = start + 1
            in_docstring = line.startswith("comptime")
            for end in range(start + 1, len(lines) + 1):
                if end == len(lines):
                    break
                text = lines[end]
                if in_docstring:
                    # a constant's docstring follows it, unindented
                    if end == start + 1 and text.startswith('"""'):
                        if text.count('"""') == 2:
                            end += 1
                            break
                        continue
                    if end > start + 1 and lines[start + 1].startswith('"""'):
                        if '"""' in text:
                            end += 1
                            break
                        continue
                    break
                # a definition ends at the next unindented line that does not
                # close its signature (``](...)`` or ``)``)
                if text and not text[0].isspace() and not text.startswith((")", "]")):
                    break
            block = lines[first:end]
            while block and not block[-1].strip():
                block.pop()
            found.setdefault(match["name"], "\n".join(block) + "\n")
    return found


def names() -> list[str]:
    """The names :func:`source` knows, in the order of the files."""
    return list(_definitions())


def source(name: str) -> str:
    """The Mojo text of the function, struct or constant ``name``, as it runs.

    Decorators and docstring included; KeyError naming the known ones if
    there is none of that name.
    """
    definitions = _definitions()
    if name not in definitions:
        raise KeyError(
            f"no Mojo definition {name!r}; choose from {', '.join(definitions)}"
        )
    return definitions[name]
