#!/usr/bin/env python3
"""Structure rules that ruff and pylint-odoo do not check; run by scripts/lint.

- A file under an addon's models/ or wizard/ folder has at most 400 lines, so that one file
  keeps one reason to change and a reader finds a behaviour by its file name.
- Every line of addon code (tests excepted) that calls sudo() carries, on the same line or
  in the comment directly above (one line, or a wrapped comment block ending on the line
  above), a comment "# sudo: <reason>": the access check the call replaces ("owner checked
  by _check_owner() above") or why none is needed.

Prints every offender as path:line: message and exits 1 when there is one.

    python3 scripts/check_structure.py [repository root]
"""

from __future__ import annotations

import io
import itertools
import re
import sys
import tokenize
from pathlib import Path

MAX_LINES = 400
SIZE_FOLDERS = ("models", "wizard", "wizards", "sync_store")
SUDO_REASON = re.compile(r"#\s*sudo:\s*\S")
SUDO_MARK = re.compile(r"#\s*sudo:")


def addon_files(root: Path):
    for addon in sorted(root.glob("crm_mail_channel*/")):
        if (addon / "__manifest__.py").is_file():
            yield from sorted(addon.rglob("*.py"))


def size_offenders(root: Path, path: Path):
    relative = path.relative_to(root)
    if len(relative.parts) < 3 or relative.parts[1] not in SIZE_FOLDERS:
        return
    count = len(path.read_text(encoding="utf-8").splitlines())
    if count > MAX_LINES:
        yield MAX_LINES + 1, f"{count} lines, more than {MAX_LINES}: split it by capability"


def sudo_lines(source: str):
    """Line numbers where sudo( is called, from the tokens (not comments or strings)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    meaningful = [t for t in tokens if t.type not in (tokenize.NL, tokenize.COMMENT)]
    for current, following in itertools.pairwise(meaningful):
        if current.type == tokenize.NAME and current.string == "sudo" and following.string == "(":
            yield current.start[0]


def comment_above(lines: list[str], number: int) -> str:
    """The comment lines that end right above line `number` (1-based), joined."""
    block = []
    index = number - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        block.append(lines[index].strip())
        index -= 1
    return " ".join(reversed(block))


def sudo_offenders(path: Path):
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    for number in sorted(set(sudo_lines(source))):
        same, above = lines[number - 1], comment_above(lines, number)
        if SUDO_REASON.search(same) or SUDO_REASON.search(above):
            continue
        if SUDO_MARK.search(same) or SUDO_MARK.search(above):
            yield number, "sudo() comment without a reason: write '# sudo: <reason>'"
        else:
            yield (
                number,
                (
                    "sudo() without '# sudo: <reason>' on this line or in the comment above "
                    "(name the access check it replaces, or why none is needed)"
                ),
            )


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parent.parent).resolve()
    offenders = []
    for path in addon_files(root):
        relative = path.relative_to(root)
        offenders += [(relative, n, m) for n, m in size_offenders(root, path)]
        if "tests" not in relative.parts:
            offenders += [(relative, n, m) for n, m in sudo_offenders(path)]
    for relative, number, message in offenders:
        print(f"{relative}:{number}: {message}")
    if offenders:
        print(f"check_structure: {len(offenders)} problem(s)")
        return 1
    print("check_structure: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
