"""Cold start of `danlu` (the wizard) to an interactive first screen, in a pseudo-terminal.

Starts the installed `danlu` command in a pty of 80×24 (as a user's terminal would), reads its
output until the Welcome screen's "New fine-tune" action and the footer are drawn, and reports the
median of several runs.  Each run is a fresh process (Python and its imports from the OS page
cache, as after any earlier command).  Compare: DESIGN.md §6 measured `llamafactory-cli webui`
reaching HTTP-ready at a median of 8.6 s on this machine.

    .venv/bin/python bench/wizard_startup.py --runs 7

Side by side: with `--llamafactory PATH/llamafactory-cli` it also starts `llamafactory-cli webui`
(GRADIO_SERVER_NAME=127.0.0.1, GRADIO_SERVER_PORT a free port, offline, no analytics) and times it
to HTTP-ready: the first GET on http://127.0.0.1:PORT/ that answers 200 (polled every 50 ms), then
kills its process group.  Runs of both alternate; "cold" is the same for both: a fresh process
each run, the OS page cache warm.  The first run of each (first import, page cache possibly cold)
is reported apart and left out of the medians.  Give LLaMA-Factory its own venv, outside this repo:

    .venv/bin/python bench/wizard_startup.py --runs 7 \\
        --llamafactory /tmp/lfvenv/bin/llamafactory-cli --lf-runs 3
"""

from __future__ import annotations

import argparse
import fcntl
import http.client
import json
import os
import pty
import re
import resource
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import Figure, add_args, at_most, report, work_dir  # noqa: E402

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
                if marker in plain and b"Help" in plain:  # the footer's last key: the first screen is drawn
                    return time.perf_counter() - t0
        raise RuntimeError(f"no first screen within {timeout} s; output tail: {ANSI.sub(b'', buf)[-500:]!r}")
    finally:
        os.kill(pid, signal.SIGTERM)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.close(fd)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(port: int) -> int | None:
    """Status of GET / on 127.0.0.1:port (no proxy), or None while nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def lf_env(base: dict) -> dict:
    env = {k: v for k, v in base.items() if k not in ("GRADIO_SHARE", "VIRTUAL_ENV", "PYTHONPATH")}
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
               DO_NOT_TRACK="1", BROWSER="true")  # inbrowser=True: open nothing
    return env


def lf_run(cli: str, env: dict, cwd: str, timeout: float = 300.0) -> float:
    """Seconds from starting `llamafactory-cli webui` to its first HTTP 200 on /."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([cli, "webui"], env=dict(env, GRADIO_SERVER_PORT=str(port)), cwd=cwd,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            while time.perf_counter() - t0 < timeout:
                if http_status(port) == 200:
                    return time.perf_counter() - t0
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
            log.seek(0)
            tail = log.read()[-1500:].decode(errors="replace")
            why = f"exited with {proc.returncode}" if proc.returncode is not None else f"not ready within {timeout} s"
            raise RuntimeError(f"llamafactory-cli webui {why}; output tail:\n{tail}")
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def lf_versions(cli: str) -> dict:
    py = str(Path(cli).parent / "python")
    code = ("import importlib.metadata as m, json\nout = {}\n"
            "for p in ('llamafactory', 'gradio', 'torch', 'transformers'):\n"
            "    try: out[p] = m.version(p)\n"
            "    except m.PackageNotFoundError: out[p] = None\n"
            "print(json.dumps(out))")
    try:
        done = subprocess.run([py, "-c", code], check=False, capture_output=True, text=True, timeout=60)
        return json.loads(done.stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        return {}


def schedule(n_danlu: int, n_lf: int) -> list[str]:
    """Interleave the runs evenly, e.g. 7 and 3 → d d L d d d L d d L d… (by position in [0, 1))."""
    slots = [((i + 0.5) / n_danlu, "danlu") for i in range(n_danlu)]
    slots += [((j + 0.5) / n_lf, "lf") for j in range(n_lf)]
    return [who for _, who in sorted(slots)]


def stats(times: list[float]) -> dict:
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "max_s": round(max(times), 3), "times_s": [round(x, 3) for x in times]}


def others_cpu(run, *a) -> tuple[float, float]:
    """(seconds of `run(*a)`, mean CPUs busy meanwhile with anything but our children: other users' work
    on a shared machine, from /proc/stat; 0.0 where that is not readable)."""
    def busy() -> float:
        try:
            f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        except (OSError, ValueError):
            return 0.0
        return (sum(f) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait

    def ours() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    b0, c0 = busy(), ours()
    t = run(*a)
    other = (busy() - b0) - (ours() - c0)
    return t, max(0.0, other / t) if b0 else 0.0


def wait_for_load(max_load: float, max_wait: float) -> None:
    t0 = time.monotonic()
    while os.getloadavg()[0] > max_load and time.monotonic() - t0 < max_wait:
        time.sleep(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--llamafactory", metavar="CLI", help="path to llamafactory-cli (its own venv) to measure "
                    "`llamafactory-cli webui` to HTTP-ready side by side")
    ap.add_argument("--lf-runs", type=int, default=3, help="measured runs of llamafactory-cli webui (default 3)")
    ap.add_argument("--lf-timeout", type=float, default=300.0, help="seconds one LF start may take (default 300)")
    ap.add_argument("--wait-load", type=float, metavar="LOAD", help="first wait (≤ 10 min) until the 1-min load "
                    "average is at most LOAD")
    add_args(ap)
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.lf_runs = 1, 1
    if args.wait_load is not None:
        wait_for_load(args.wait_load, 600)
    with work_dir("wizard", args.keep) as work:
        return side_by_side(args, work) if args.llamafactory else alone(args, work)


def alone(args: argparse.Namespace, work: Path) -> int:
    danlu = str(Path(sys.executable).parent / "danlu")
    home = str(work / "home")
    env = dict(os.environ, DANLU_HOME=home, TERM="xterm-256color", LANG="C.UTF-8", DANLU_LANG="en")
    one_run([danlu], env, b"New fine-tune")  # warm the OS page cache once, as any earlier command would
    times = [one_run([danlu], env, b"New fine-tune") for _ in range(args.runs)]
    med = statistics.median(times)
    out = {"runs": args.runs, "median_s": round(med, 3), "min_s": round(min(times), 3), "max_s": round(max(times), 3),
           "times_s": [round(x, 3) for x in times], "goal_s": 0.8,
           "llamafactory_webui_median_s": LLAMAFACTORY_WEBUI_S, "ratio": round(LLAMAFACTORY_WEBUI_S / med, 1)}
    print(f"danlu wizard, first screen at 80×24: median {med:.3f} s over {args.runs} runs "
          f"(min {min(times):.3f}, max {max(times):.3f}); goal ≤ 0.8 s")
    print(f"llamafactory-cli webui (DESIGN.md §6): {LLAMAFACTORY_WEBUI_S} s → danlu is {out['ratio']}× faster")
    report("wizard_startup", [cold_start(med, LLAMAFACTORY_WEBUI_S, "llamafactory-cli webui (recorded, DESIGN.md §6)")],
           args.json, smoke=args.smoke, detail=out)
    return 0


def cold_start(median_s: float, lf_s: float, lf_name: str) -> Figure:
    # the baseline is the slower tool, so the ratio is danlu's share of its time: goal ≤ 0.1 (10× faster)
    return Figure("wizard.cold_start_s", "wizard cold start to the first screen (80×24)", median_s, "s", lf_s, lf_name,
                  "≤ 0.8 s", at_most(median_s, 0.8))


def side_by_side(args: argparse.Namespace, work: Path) -> int:
    cli = os.path.abspath(args.llamafactory)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that lf_run's `finally` kills the webui too
    if not os.access(cli, os.X_OK):
        raise SystemExit(f"not an executable: {cli}")
    danlu = str(Path(sys.executable).parent / "danlu")
    home, lfcwd = str(work / "home"), str(work / "lf")
    os.makedirs(lfcwd)
    env = dict(os.environ, DANLU_HOME=home, TERM="xterm-256color", LANG="C.UTF-8", DANLU_LANG="en")
    lfenv = lf_env(os.environ)  # webui writes llamaboard_cache/ here
    load_start = os.getloadavg()
    first_lf = lf_run(cli, lfenv, lfcwd, args.lf_timeout)  # first import: cold-ish, reported apart
    first_danlu = one_run([danlu], env, b"New fine-tune")  # as above: warms the page cache once
    times: dict[str, list[float]] = {"danlu": [], "lf": []}
    busy: dict[str, list[float]] = {"danlu": [], "lf": []}
    for who in schedule(args.runs, args.lf_runs):
        t, other = (others_cpu(one_run, [danlu], env, b"New fine-tune") if who == "danlu"
                    else others_cpu(lf_run, cli, lfenv, lfcwd, args.lf_timeout))
        times[who].append(t)
        busy[who].append(other)
    load_end = os.getloadavg()
    d, lf = stats(times["danlu"]), stats(times["lf"])
    ratio = lf["median_s"] / d["median_s"]
    out = {"runs": args.runs, **d, "goal_s": 0.8, "first_s": round(first_danlu, 3),
           "llamafactory": {"runs": args.lf_runs, **lf, "first_s": round(first_lf, 3), "cli": cli,
                            "versions": lf_versions(cli)},
           "llamafactory_webui_median_s": lf["median_s"], "ratio": round(ratio, 1), "ratio_goal": 10,
           "loadavg_start": [round(x, 2) for x in load_start], "loadavg_end": [round(x, 2) for x in load_end],
           "others_cpus": {k: [round(x, 2) for x in v] for k, v in busy.items()},
           "cpus": os.cpu_count(), "order": ["lf(first)", "danlu(first)"] + schedule(args.runs, args.lf_runs)}
    report("wizard_startup", [cold_start(d["median_s"], lf["median_s"], "llamafactory-cli webui (measured here)")],
           args.json, smoke=args.smoke, detail=out)
    v = out["llamafactory"]["versions"]
    print(f"danlu wizard, first screen at 80×24: median {d['median_s']:.3f} s over {args.runs} runs "
          f"(min {d['min_s']:.3f}, max {d['max_s']:.3f}); goal ≤ 0.8 s")
    print(f"llamafactory-cli webui to HTTP 200: median {lf['median_s']:.3f} s over {args.lf_runs} runs "
          f"(min {lf['min_s']:.3f}, max {lf['max_s']:.3f}); llamafactory {v.get('llamafactory')}, "
          f"gradio {v.get('gradio')}, torch {v.get('torch')}, transformers {v.get('transformers')}")
    print(f"first runs, left out of the medians: llamafactory {first_lf:.3f} s, danlu {first_danlu:.3f} s")
    for who, name in (("danlu", "danlu times:       "), ("lf", "llamafactory times:")):
        print(name, " ".join(f"{t:.3f}" + (f" (others {o:.2f} CPU)" if o > 0.25 else "")
                             for t, o in zip(times[who], busy[who], strict=True)))
    print(f"load average (1/5/15 min) at start {' '.join(f'{x:.2f}' for x in load_start)}, at end "
          f"{' '.join(f'{x:.2f}' for x in load_end)}; {os.cpu_count()} CPUs; runs interleaved, page cache warm")
    worst = max(busy["danlu"] + busy["lf"])
    print(f"other processes during the runs: at most {worst:.2f} CPUs busy on average over one run"
          + ("  ← the machine was not quiet; numbers are noisy" if worst > 0.25 else ""))
    print(f"RATIO llamafactory/danlu = {lf['median_s']:.3f} / {d['median_s']:.3f} = {ratio:.1f}× "
          f"(goal ≥ 10×: {'met' if ratio >= 10 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
