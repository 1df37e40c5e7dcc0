"""Run a Python script (or ``-c CODE``) and record the peak resident memory of this process alone.

    python bench/own_peak.py OUT.json script.py ARGS...
    python bench/own_peak.py OUT.json -c CODE ARGS...

Writes ``{"vmhwm_mb": …}`` to OUT.json when the script ends (also on an error exit): ``VmHWM`` of
``/proc/self/status``, the high-water mark of this process's own address space. ``ru_maxrss`` as
seen by a parent (``os.wait4``) is not that: Linux carries the parent's high-water mark into a
child created with ``vfork`` (as ``subprocess`` does) when the child calls ``exec``, so a child is
reported as large as the parent ever was. Linux only.
"""

from __future__ import annotations

import json
import runpy
import sys


def vmhwm_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmHWM")


def main() -> None:
    out, target, *rest = sys.argv[1:]
    try:
        if target == "-c":
            code, *args = rest
            sys.argv = ["-c", *args]
            exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
        else:
            sys.argv = [target, *rest]
            runpy.run_path(target, run_name="__main__")
    finally:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump({"vmhwm_mb": round(vmhwm_mb(), 1)}, handle)


if __name__ == "__main__":
    main()
