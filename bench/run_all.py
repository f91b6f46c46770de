"""`make bench`: run every benchmark in bench/ in turn; each prints ratios against a baseline it runs itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["detector.py", "capture.py", "edge.py", "alerting.py", "scale.py", "controlroom.py", "e2e.py"]


def main() -> int:
    failed = []
    for name in ORDER:
        script = HERE / name
        if not script.exists():
            continue
        print(f"\n=== bench/{name} ===", flush=True)
        if subprocess.run([sys.executable, str(script), *sys.argv[1:]]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that failed or missed their floor: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
