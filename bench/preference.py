"""Does preference tuning teach the real model which answer is better?  demo:smollm2 (SmolLM2-135M-Instruct) on the
bundled preference pairs (sample_data/lab_consultant.preference.jsonl, English half; the rejected answer is an
evasive one or the lab's answer to another question), split 90/10 with every prompt on one side:

  dpo     DPO with LoRA from the base model, danlu's plan (`danlu plan --stage dpo`)
  sft     LoRA SFT on the training pairs' chosen answers (danlu's plan), the run the chain starts from
  chain   DPO with LoRA from the SFT run (`danlu plan --stage dpo --from SFT`): its model is the starting point and
          the reference; the dpo run's steps and sequence length, so that the two compare

For each: held-out preference accuracy (the share of held-out pairs whose chosen answer has the higher
length-normalised log-probability) and margin, base against tuned, from `danlu eval RUN --json` (its
``preference`` block), the forgetting probe's KL from the same report, and wall time.  "Base" is each run's
starting point: the base model for dpo and sft, the SFT model for chain; the chain is also compared with the base
model before SFT.

    python bench/preference.py              # about an hour on a 2-core CPU
    python bench/preference.py --smoke      # demo:tiny, a few pairs and steps
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]
from figures import Figure, add_args, at_least, at_most, report, work_dir  # noqa: E402

SAMPLE = ROOT / "sample_data" / "lab_consultant.preference.jsonl"


IN_PROCESS = False  # --smoke: every command in this process (nine starts of the libraries were most of its time)


def danlu(home: Path, *args, timeout: int = 7200) -> dict:
    if IN_PROCESS:
        import contextlib
        import io

        from danlu.engine import cli

        os.environ["DANLU_HOME"] = str(home)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli.main([str(a) for a in args] + ["--json"])
        if rc != 0:
            raise SystemExit(f"danlu {' '.join(map(str, args))} failed:\n{out.getvalue()[-2000:]}\n"
                             f"{err.getvalue()[-4000:]}")
        return json.loads(out.getvalue())
    env = dict(os.environ, DANLU_HOME=str(home))
    out = subprocess.run([sys.executable, "-m", "danlu.engine.cli", *args, "--json"], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=timeout)
    if out.returncode != 0:
        raise SystemExit(f"danlu {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout)


def split(folder: Path, n_train: int | None, n_eval: int | None) -> tuple[Path, Path, Path, Path]:
    """The English pairs, split with every prompt on one side; their chosen answers as SFT conversations."""
    from danlu.engine import data
    from danlu.engine.data import preference as pf

    d = pf.load(SAMPLE)
    langs = [json.loads(line)["lang"] for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    english = [p for p, lang in zip(d.pairs, langs) if lang == "en"]
    train, held = pf.split(english, 0.1, seed=42)
    train, held = train[:n_train] if n_train else train, held[:n_eval] if n_eval else held
    paths = []
    for name, part in (("train", train), ("eval", held)):
        paths.append(pf.write(pf.records(pf.PreferenceData("", "", len(part), pairs=part), "trl_conversational"),
                              folder / f"{name}.jsonl"))
    paths.append(data.write_conversations(folder / "sft.jsonl", pf.conversations(train), "messages"))
    paths.append(data.write_conversations(folder / "sft_eval.jsonl", pf.conversations(held), "messages"))
    return tuple(paths)


def evaluate(home: Path, run: str, smoke: bool) -> dict:
    small = ["--samples", "2", "--stability", "0", "--max-new-tokens", "16"] if smoke else \
        ["--samples", "4", "--stability", "0", "--max-new-tokens", "64"]
    return danlu(home, "eval", run, *small)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="demo:smollm2")
    ap.add_argument("--max-steps", type=int, default=0, help="cap each run's optimizer steps (0: the plan's)")
    add_args(ap)
    args = ap.parse_args()
    global IN_PROCESS
    IN_PROCESS = args.smoke
    model = "demo:tiny" if args.smoke else args.model
    steps = ["max_steps=2", "eval_steps=0", "early_stopping_patience=0"] if args.smoke else (
        [f"max_steps={args.max_steps}"] if args.max_steps else [])
    detail: dict = {}
    with work_dir("preference", args.keep) as work:
        home = work / "home"
        train, held, sft_data, sft_held = split(work, 8 if args.smoke else None, 4 if args.smoke else None)
        results = {}

        def train_run(name: str, *plan_args) -> tuple[str, float]:
            cfg = work / f"{name}.yaml"
            danlu(home, "plan", *plan_args, "--save", str(cfg), *steps)
            t0 = time.time()
            res = danlu(home, "train", str(cfg))
            print(f"{name}: {res['state']} after {res['steps']} steps in {time.time() - t0:.0f} s", flush=True)
            return res["run_dir"], time.time() - t0

        dpo_run, dpo_s = train_run("dpo", "--model", model, "--stage", "dpo", "--method", "lora", "--data", str(train),
                                   "--eval-data", str(held))
        results["dpo"] = evaluate(home, dpo_run, args.smoke)
        sft_run, sft_s = train_run("sft", "--model", model, "--method", "lora", "--data", str(sft_data),
                                   "--eval-data", str(sft_held))
        results["sft"] = evaluate(home, sft_run, args.smoke)
        # the chain takes the dpo run's steps and sequence length: its starting point is a model folder, not the demo
        # model, so its own plan would take three passes at the data's full length (about an hour more here)
        import yaml

        done = yaml.safe_load((Path(dpo_run) / "config.yaml").read_text())
        dpo_steps = sum(1 for line in (Path(dpo_run) / "events.jsonl").read_text().splitlines()
                        if '"type": "step"' in line)
        same = [] if args.smoke else [f"max_steps={dpo_steps}", f"max_seq_len={done['max_seq_len']}"]
        chain_run, chain_s = train_run("chain", "--stage", "dpo", "--from", sft_run, "--method", "lora", "--data",
                                       str(train), "--eval-data", str(held), *same)
        results["chain"] = evaluate(home, chain_run, args.smoke)

        def pref(name, side, key):
            return ((results[name].get("preference") or {}).get(side) or {}).get(key)

        def kl(name):
            return (results[name].get("forgetting") or {}).get("kl")

        for name in ("dpo", "chain"):
            detail[name] = {"preference": results[name].get("preference"), "forgetting_kl": kl(name),
                            "examples": results[name].get("examples")}
        detail["sft"] = {"forgetting_kl": kl("sft"), "eval_loss": results["sft"].get("eval_loss")}
        figures = []
        for name, secs in (("dpo", dpo_s), ("chain", chain_s)):
            base, tuned = pref(name, "base", "accuracy"), pref(name, "tuned", "accuracy")
            gain = tuned - base if base is not None and tuned is not None else float("nan")
            figures += [
                Figure(f"pref.{name}.accuracy_gain", f"preference ({name}): held-out accuracy, tuned − base", gain,
                       "", baseline=None, goal="≥ 0.2", met=at_least(gain, 0.2)),
                Figure(f"pref.{name}.accuracy", f"preference ({name}): held-out accuracy, tuned vs base", tuned or 0.0,
                       "", baseline=base, baseline_name="base"),
                Figure(f"pref.{name}.margin", f"preference ({name}): margin (nats/token), tuned vs base",
                       pref(name, "tuned", "margin") or 0.0, "", baseline=pref(name, "base", "margin"),
                       baseline_name="base", goal="above the base's",
                       met=None if pref(name, "base", "margin") is None else
                       pref(name, "tuned", "margin") > pref(name, "base", "margin")),
                Figure(f"pref.{name}.forgetting_vs_sft", f"preference ({name}): forgetting KL vs the SFT run's",
                       kl(name) or 0.0, "nats/token", baseline=kl("sft"), baseline_name="SFT run",
                       goal="≤ the SFT run's", met=None if kl("sft") in (None, 0) or kl(name) is None else
                       at_most(kl(name) / kl("sft"), 1.0)),
                Figure(f"pref.{name}.wall_s", f"preference ({name}): wall time of the training", secs, "s"),
            ]
        # the chain against the model before either stage (the dpo run's base): what SFT then DPO did together
        original, chained = pref("dpo", "base", "accuracy"), pref("chain", "tuned", "accuracy")
        gain = chained - original if original is not None and chained is not None else float("nan")
        figures.append(Figure("pref.chain.accuracy_gain_vs_base_model",
                              "preference (SFT → DPO): held-out accuracy, chain − the base model before SFT", gain, "",
                              baseline=None, goal="≥ 0.2", met=at_least(gain, 0.2)))
        report("preference", figures, args.json, smoke=args.smoke, detail=detail)


if __name__ == "__main__":
    main()
