"""Print the failed and errored tests of a pytest JUnit XML report, one short line each.

The test script prints these last, so the end of a long log names what failed even when the
failure's own text (a JVM stack trace) is thousands of lines long.
"""

import sys
import xml.etree.ElementTree as ET


def main(path: str, engine: str) -> None:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        print(f"[{engine}] no test report at {path}: {exc}")
        return
    for case in root.iter("testcase"):
        for kind in ("failure", "error"):
            found = case.find(kind)
            if found is None:
                continue
            message = (found.get("message") or "").strip().splitlines()
            first = message[0][:240] if message else ""
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            print(f"[{engine}] {kind.upper()} {name}: {first}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
