"""``python -m codegen`` writes the generated files; ``--check`` only reports stale ones."""

from __future__ import annotations

import argparse
import sys

from codegen import stale, write


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args()
    if args.check:
        paths = stale()
        for path in paths:
            print(f"stale: {path} (run make generate)", file=sys.stderr)
        return 1 if paths else 0
    for path in write():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
