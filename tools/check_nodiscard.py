#!/usr/bin/env python3
"""Fails if a function of the library returns an error_code without [[nodiscard]].

An ignored error_code once let a filter that failed to build go out as `{}` (matching
any document), so every function that reports failure through its return value must
make the compiler complain when the caller drops it (the build uses
-Werror=unused-result). Scans include/ and src/; prints each offender as file:line.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
# A declaration or definition whose return type is error_code (optionally morm:: and
# inline/static/constexpr/virtual/friend), named, with its parameter list on this line.
decl = re.compile(r"^\s*(?:template\s*<.*>\s*)?(?:(?:inline|static|constexpr|virtual|friend)\s+)*"
                  r"(?:morm::)?error_code\s+(?:[A-Za-z_][\w:]*::)?[A-Za-z_~]\w*\s*\(")
bad = []
for path in sorted(list(root.glob("include/**/*.hpp")) + list(root.glob("src/**/*.cpp"))):
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not decl.match(line):
            continue
        prev = lines[i - 1] if i else ""
        if "[[nodiscard]]" in line or ("[[nodiscard]]" in prev and prev.strip().startswith("[[nodiscard]]")):
            continue
        bad.append(f"{path.relative_to(root)}:{i + 1}: {line.strip()}")
if bad:
    print("functions returning error_code without [[nodiscard]]:")
    print("\n".join(bad))
    sys.exit(1)
print("check_nodiscard: every function returning error_code is [[nodiscard]]")
