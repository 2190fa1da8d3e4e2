"""A subprocess run with its own peak RSS and wall time.

The command runs under a small Python wrapper that reports ``RUSAGE_CHILDREN`` once it has
waited for it: a child forked straight from the test process would count the test process's
own pages (copied at the fork, before its exec) in its peak, whatever the command used.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

WRAPPER = ("import resource, subprocess, sys\n"
           "rc = subprocess.call(sys.argv[2:])\n"
           "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
           "sys.exit(rc)\n")


@dataclass
class Measured:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mib: float


def run_measured(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 120) -> Measured:
    with tempfile.TemporaryDirectory() as tmp:
        rss = Path(tmp) / "maxrss"
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        with out.open("wb") as fo, err.open("wb") as fe:
            t0 = time.monotonic()
            proc = subprocess.Popen([sys.executable, "-c", WRAPPER, str(rss), *args], stdout=fo, stderr=fe,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the wrapper's own group: it and the command
                code = proc.wait()
            seconds = time.monotonic() - t0
        peak = int(rss.read_text()) / 1024 if rss.exists() else float("nan")
        return Measured(code, out.read_text(), err.read_text(), seconds, peak)
