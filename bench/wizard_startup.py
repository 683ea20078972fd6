"""Cold start of `danlu` (the wizard) to an interactive first screen, in a pseudo-terminal.

Starts the installed `danlu` command in a pty of 80×24 (as a user's terminal would), reads its
output until the Welcome screen's "New fine-tune" action and the footer are drawn, and reports the
median of several runs.  Each run is a fresh process (Python and its imports from the OS page
cache, as after any earlier command).  Compare: DESIGN.md §6 measured `llamafactory-cli webui`
reaching HTTP-ready at a median of 8.6 s on this machine.

    .venv/bin/python bench/wizard_startup.py --runs 7
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import re
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]|\x1b\][^\x07]*\x07")
LLAMAFACTORY_WEBUI_S = 8.6  # DESIGN.md §6: median of 5 cold starts of llamafactory-cli webui 0.9.5 here


def one_run(cmd: list[str], env: dict, marker: bytes, timeout: float = 20.0) -> float:
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execvpe(cmd[0], cmd, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    t0 = time.perf_counter()
    buf = b""
    try:
        while time.perf_counter() - t0 < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
                plain = ANSI.sub(b"", buf)
                if marker in plain and b"palette" in plain:
                    return time.perf_counter() - t0
        raise RuntimeError(f"no first screen within {timeout} s; output tail: {ANSI.sub(b'', buf)[-500:]!r}")
    finally:
        os.kill(pid, signal.SIGTERM)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.close(fd)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    danlu = str(Path(sys.executable).parent / "danlu")
    home = tempfile.mkdtemp(prefix="danlu-bench-")
    env = dict(os.environ, DANLU_HOME=home, TERM="xterm-256color", LANG="C.UTF-8", DANLU_LANG="en")
    one_run([danlu], env, b"New fine-tune")  # warm the OS page cache once, as any earlier command would
    times = [one_run([danlu], env, b"New fine-tune") for _ in range(args.runs)]
    med = statistics.median(times)
    out = {"runs": args.runs, "median_s": round(med, 3), "min_s": round(min(times), 3), "max_s": round(max(times), 3),
           "times_s": [round(x, 3) for x in times], "goal_s": 0.8,
           "llamafactory_webui_median_s": LLAMAFACTORY_WEBUI_S, "ratio": round(LLAMAFACTORY_WEBUI_S / med, 1)}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"danlu wizard, first screen at 80×24: median {med:.3f} s over {args.runs} runs "
              f"(min {min(times):.3f}, max {max(times):.3f}); goal ≤ 0.8 s")
        print(f"llamafactory-cli webui (DESIGN.md §6): {LLAMAFACTORY_WEBUI_S} s → danlu is {out['ratio']}× faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
