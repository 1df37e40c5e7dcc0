"""sha256 throughput of ``clue.io.sha256_file``: what re-hashing raw inputs at every build costs.

Writes a file of ``--mb`` megabytes (default 949, random bytes) in ``--dir`` (default: the system temp
folder), hashes it once after evicting it from the page cache (``posix_fadvise DONTNEED``) and twice
from the page cache, prints wall and CPU seconds, MB/s and the load average (the wall time grows on a
busy machine; the CPU time hardly does), and removes the file.

    python bench/hash_throughput.py [--mb 949] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from clue.io import sha256_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=949)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    size = args.mb * 10**6
    fd, name = tempfile.mkstemp(prefix="clue-hash-bench-", dir=args.dir)
    path = Path(name)
    try:
        block = os.urandom(1 << 20)
        with os.fdopen(fd, "wb") as handle:
            left = size
            while left:
                handle.write(block[:min(left, len(block))])
                left -= min(left, len(block))
            handle.flush()
            os.fsync(handle.fileno())
        for label in ("from disk (page cache evicted)", "from the page cache", "from the page cache again"):
            if label.startswith("from disk"):
                evict = os.open(path, os.O_RDONLY)
                os.posix_fadvise(evict, 0, 0, os.POSIX_FADV_DONTNEED)
                os.close(evict)
            started, cpu = time.perf_counter(), time.process_time()
            digest = sha256_file(path)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            print(f"{args.mb} MB {label}: {seconds:.2f} s wall, {cpu:.2f} s CPU, {size / seconds / 1e6:.0f} MB/s "
                  f"({digest[:12]}…; load average {os.getloadavg()[0]:.1f})")
    finally:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
