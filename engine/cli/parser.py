"""The argument parser: every command, flag and help text."""

from __future__ import annotations

import argparse

from .. import __version__
from .common import EPILOG, NONNEG_FLOAT, NONNEG_INT, POS_FLOAT, POS_INT, Parser, number
from .data import cmd_data
from .export import cmd_export
from .infer import cmd_chat, cmd_eval
from .model import cmd_demo_model, cmd_model
from .plan import cmd_plan, cmd_probe
from .quickstart import cmd_quickstart
from .train import cmd_attach, cmd_resume, cmd_runs, cmd_stop, cmd_train


# -- parser -----------------------------------------------------------------------------------
def data_targets() -> tuple:
    """Every --to: the SFT forms (engine.data.formats) and the preference forms (engine.data.preference)."""
    from ..data.formats import TARGETS
    from ..data.preference import TARGETS as PREFERENCE

    return tuple(TARGETS) + tuple(PREFERENCE)


def build_parser() -> argparse.ArgumentParser:
    from ..infer.chat import CHAT_DEFAULTS as CHAT
    from ..infer.evaluate import DEFAULT as EVAL, FULL as EVAL_FULL

    p = Parser(prog="danlu", description="danlu (丹炉): fine-tune a chat model on one GPU, from probe to export.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"danlu {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--demo", action="store_true", help="open the wizard with the offline demo model and sample data")
    p.add_argument("--lang", choices=["en", "zh"], default=None, help="wizard language (default: from the locale)")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=Parser)

    def add(name, func, help, description=None):
        sp = sub.add_parser(name, help=help, description=description or help)
        sp.set_defaults(func=func)
        return sp

    def json_flag(sp):
        sp.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    sp = add("probe", cmd_probe, "show GPUs (via NVML), RAM and disk that training can use")
    sp.add_argument("--gpu", type=NONNEG_INT, default=None, help="GPU index to select on a multi-GPU machine")
    json_flag(sp)

    sp = add("plan", cmd_plan, "predict memory and choose full/LoRA/QLoRA, batch and accumulation that fit",
             "Predict peak memory from the model's config alone (no download) and choose the method, "
             "micro-batch, gradient accumulation, checkpointing, optimizer and precision that fit.")
    sp.add_argument("--model", help="Hugging Face id, local model folder or config.json, or demo:smollm2")
    sp.add_argument("--gpu-mem", type=POS_FLOAT, default=None, metavar="GB", help="plan for a GPU with this much memory")
    sp.add_argument("--seq-len", type=POS_INT, default=None,
                    help="training sequence length (default: the --data token-length p99 rounded up to 64, at most 1024 "
                         "or the demo model's own limit)")
    sp.add_argument("--data", help="dataset file: the sequence length becomes its token-length p99; with --save it is "
                                   "the config's train_file")
    sp.add_argument("--eval-data", help="with --save: held-out conversations (the config's eval_file)")
    sp.add_argument("--save", metavar="CONFIG", help="write the config.yaml `danlu train` runs (the wizard's Plan "
                                                      "screen writes the same for the same choices)")
    sp.add_argument("--task", default="general", help="task preset: learning rate, epochs, LoRA shape "
                                                      "(presets/tasks.yaml; default general)")
    sp.add_argument("--trust-remote-code", action="store_true", help="with --save: allow the model's own code")
    sp.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="settings to set, e.g. lr=1e-4 epochs=2 (any config.yaml key)")
    sp.add_argument("--gpu", type=NONNEG_INT, default=None, help="GPU index to plan for on a multi-GPU machine")
    sp.add_argument("--method", choices=["auto", "full", "lora", "qlora"], default=None,
                    help="force a method (default auto: the best one that fits)")
    sp.add_argument("--micro-batch", type=POS_INT, help="force the micro-batch size")
    sp.add_argument("--target-batch", type=POS_INT, default=None,
                    help="effective batch to reach (default 16, or the demo model's own)")
    sp.add_argument("--lora-r", type=POS_INT, default=None, help="LoRA rank (default: the task preset's, 16)")
    sp.add_argument("--lora-targets", default=None, help="all-linear (default) or a list such as q_proj,v_proj")
    sp.add_argument("--grad-checkpointing", choices=["on", "off"], help="force gradient checkpointing")
    sp.add_argument("--optimizer", help="transformers optim name: adamw_torch, adamw_bnb_8bit, paged_adamw_8bit, …")
    sp.add_argument("--from", dest="from_run", metavar="RUN",
                    help="the next plan after a finished run: its config with its diagnosis's changes (runs/<id>, "
                         "an id, or latest); with --save, a config to train")
    sp.add_argument("--stage", choices=["sft", "dpo", "orpo", "simpo", "kto"], default=None,
                    help="sft (default): learn from example answers; dpo, orpo, simpo: learn which of two answers is "
                         "better (--data of chosen/rejected pairs); kto: from answers labelled good or bad. With "
                         "--from RUN (an SFT run) the preference stage starts from that run's model")
    sp.add_argument("--gpus", type=POS_INT, default=None, metavar="N",
                    help="plan for N devices on each node (default 1): danlu chooses one device, DDP, FSDP2 "
                         "full-shard or FSDP2 with CPU offload by the memory each device needs and the expected speed")
    sp.add_argument("--nodes", type=POS_INT, default=None, metavar="M", help="plan for M machines of --gpus devices "
                                                                             "each (default 1)")
    sp.add_argument("--interconnect", choices=["nvlink", "pcie"], default=None,
                    help="how the GPUs of a node are linked (default: what the probe sees, else pcie)")
    sp.add_argument("--list-models", action="store_true", help="list the model presets known offline")
    json_flag(sp)

    sp = add("data", cmd_data, "inspect, convert, clean and split datasets (Alpaca, ShareGPT, messages, CSV, Parquet)")
    dsub = sp.add_subparsers(dest="data_cmd", metavar="ACTION", required=True, parser_class=Parser)
    for name, help in (("inspect", "detect the format and report every problem with its line"),
                       ("convert", "convert to alpaca, sharegpt or messages"),
                       ("clean", "drop broken records, exact and near duplicates and overlong rows"),
                       ("split", "split into train and eval files and check for leakage")):
        d = dsub.add_parser(name, help=help, description=help + ". Preference data (chosen/rejected pairs in TRL's "
                            "or LLaMA-Factory's forms, or KTO's prompt/completion/label) is recognised too: inspect "
                            "names the stages it can feed and checks its pairs; convert writes --to preference, trl, "
                            "kto, alpaca_preference or sharegpt_preference (or an SFT form: the chosen answers); "
                            "split keeps each prompt on one side")
        d.set_defaults(func=cmd_data)
        d.add_argument("file", help="a .json/.jsonl/.csv/.tsv/.parquet file, a folder of them, a `datasets` "
                                    "save_to_disk folder, dataset_info.json#NAME, or a Hugging Face id (online)")
        d.add_argument("--mapping", help="column mapping, e.g. 'instruction=问题,output=回答' (or 'auto' to accept "
                                         "the proposed one)")
        d.add_argument("--on-error", choices=["fix", "skip", "stop"], default="skip",
                       help="bad records: fix what can be fixed, skip them (default), or stop at the first")
        if name in ("convert", "clean", "split"):
            d.add_argument("--to", choices=list(data_targets()), default=None, required=name == "convert",
                           help="output format (default: messages; preference for preference data)")
        if name in ("convert", "clean"):
            d.add_argument("-o", "--output", required=True, help="output file (.jsonl, or .json for a JSON array)")
        if name in ("inspect", "clean"):
            d.add_argument("--max-chars", type=NONNEG_INT, default=16000,
                           help="flag/drop conversations longer than this many characters (default 16000; 0 = off)")
        if name != "convert":
            d.add_argument("--near-dup-threshold", type=float, default=0.9,
                           help="MinHash similarity (0-1] from which two records count as near duplicates "
                                "(default 0.9)")
        if name == "inspect":
            d.add_argument("--model", help="token statistics with this model's tokenizer and chat template "
                                           "(e.g. demo:tiny or a model folder)")
            d.add_argument("--max-seq-len", type=POS_INT, default=None, help="count the rows this length would truncate")
        if name == "clean":
            d.add_argument("--normalize", nargs="?", const="all", choices=["all", "whitespace", "width"],
                           help="normalise whitespace and/or full-width/half-width characters (default: all)")
        if name == "split":
            d.add_argument("--out-dir", required=True, help="folder for train and eval files")
            d.add_argument("--eval-ratio", type=float, default=0.1, help="share held out for evaluation (default 0.1)")
            d.add_argument("--by", metavar="COLUMN", help="split by this field (time or id): the latest values go to "
                                                          "eval, equal values stay together")
        if name in ("clean", "split"):
            d.add_argument("--seed", type=int, default=42, help="shuffle/sampling seed (default 42)")
            d.add_argument("--mix", metavar="FILE", help="mix in a general instruction set against forgetting")
            d.add_argument("--mix-ratio", type=POS_FLOAT, default=0.1,
                           help="add this many mix records per record of the data (default 0.1 = 10 %%)")
        json_flag(d)

    sp = add("train", cmd_train, "train from a config.yaml (foreground, or --detach to survive a closed terminal)",
             "Train from a config.yaml (foreground, or --detach to survive a closed terminal).  A config planned for "
             "several GPUs on this machine (`danlu plan --gpus N`, strategy ddp) starts one process per GPU with "
             "torchrun; for several machines it prints the command to run on each.")
    sp.add_argument("config", help="a config.yaml (from `danlu plan --save`, or runs/<id>/config.yaml to reproduce a "
                                   "run)")
    sp.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                    help="settings that replace the file's, e.g. lr=1e-4 max_steps=50 (see the keys in config.yaml)")
    sp.add_argument("--detach", action="store_true", help="run in the background in a new session; prints the run id")
    sp.add_argument("--run-name", help="name of the run directory (default: date, time, method and model); "
                    "under torchrun every rank must get the same one")
    sp.add_argument("--in-run", help=argparse.SUPPRESS)
    sp.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)
    json_flag(sp)

    sp = add("resume", cmd_resume, "resume a stopped, crashed or killed run from its newest good checkpoint",
             "Resume a run from its newest readable checkpoint (model, optimizer, scheduler, RNG and data "
             "position). A finished run can be trained longer with --epochs. Refuses, with the differences, when "
             "config.yaml changed in a way that breaks resuming.")
    sp.add_argument("run", help="run id, unique part of one, path, or 'latest'")
    sp.add_argument("--epochs", type=float, help="train to this many epochs in total (extends a finished run)")
    sp.add_argument("--max-steps", type=int, help="train to this many optimizer steps in total")
    sp.add_argument("--detach", action="store_true", help="resume in the background")
    sp.add_argument("--allow-data-change", action="store_true",
                    help="resume even though the training data changed since the run started (its content hash)")
    json_flag(sp)

    sp = add("runs", cmd_runs, "list runs with their state, step and loss")
    json_flag(sp)

    sp = add("attach", cmd_attach, "follow a run's events (the whole history, then live); Ctrl-C detaches")
    sp.add_argument("run", nargs="?", help="run id, unique part of one, path, or 'latest' (default: the run that is "
                                           "training now, else the latest)")
    sp.add_argument("--no-follow", action="store_true", help="print the history and exit")
    json_flag(sp)

    sp = add("stop", cmd_stop, "stop a running run cleanly (finish the step, save, exit)")
    sp.add_argument("run", help="run id, unique part of one, path, or 'latest'")
    sp.add_argument("--checkpoint", action="store_true", help="only save a checkpoint now; training goes on")
    json_flag(sp)

    sp = add("chat", cmd_chat, "chat with a model or a run's tuned model (streaming REPL; --prompt for one answer)",
             "Chat with a run's tuned model (its base model with the adapter, in 4-bit again for a QLoRA run), one of "
             "its checkpoints (RUN@checkpoint-N or --checkpoint N), a merged/full model folder, a Hugging Face id or "
             "demo:smollm2. Replies stream and stop at the chat template's end-of-turn token; sampling starts from the "
             "model's generation_config, else danlu's chat defaults (the exported Modelfile's); danlu eval is greedy. In the REPL: /system, /reset, /retry, /compare (the same prompt to "
             "the base model: the adapter switched off, no second copy in memory), /set temperature 0.7, /save "
             "FILE (the transcript as a training-format JSONL line), /help; Ctrl-C stops the answer, not the REPL.")
    sp.add_argument("model", help="run id/path (RUN@checkpoint-N for a checkpoint), model folder, Hugging Face id, or "
                                  "demo:smollm2")
    sp.add_argument("--checkpoint", help="a checkpoint of the run: N or checkpoint-N")
    sp.add_argument("--prompt", help="ask one question and exit (otherwise interactive)")
    sp.add_argument("--compare", action="store_true", help="with --prompt: answer with the tuned and the base model")
    sp.add_argument("--system", help="system prompt")
    sp.add_argument("--base", action="store_true", help="use the run's base model without the adapter")
    sp.add_argument("--max-new-tokens", type=POS_INT, default=None, help="longest reply in tokens (default 256)")
    sp.add_argument("--temperature", type=NONNEG_FLOAT, default=None,
                    help="0 = greedy (what danlu eval uses); default: the model's generation_config when it samples, "
                         f"else danlu's chat default {CHAT['temperature']:g} (the exported Modelfile's too)")
    sp.add_argument("--top-p", type=number(float, 0, 1, low_open=True, what="above 0, at most 1"), default=None,
                    help=f"nucleus sampling (default from the model, else {CHAT['top_p']:g})")
    sp.add_argument("--top-k", type=NONNEG_INT, default=None, help="top-k sampling, 0 = off (default from the model, "
                                                                  f"else {CHAT['top_k']})")
    sp.add_argument("--repetition-penalty", type=POS_FLOAT, default=None,
                    help=f"above 1 discourages repeats (default from the model, else {CHAT['repetition_penalty']:g}: "
                         "a small model's answers loop on one sentence without it)")
    sp.add_argument("--seed", type=int, default=None, help="seed for sampling")
    sp.add_argument("--trust-remote-code", action="store_true", help="run model code from its repository")
    json_flag(sp)

    sp = add("eval", cmd_eval, "evaluation report of a run: base vs tuned loss, ROUGE-L/BLEU, stability, forgetting",
             "Evaluate a run on its held-out split (or --data FILE): eval loss and perplexity of the base and the "
             "tuned model (one model in memory, the adapter switched off and on), ROUGE-L and BLEU of greedy answers "
             "against the reference answers (CJK-aware), stability of sampled answers, a forgetting probe on general "
             "prompts (KL divergence from the base), side-by-side examples and a template check. Writes eval.json and "
             "eval.md into the run. --json prints eval.json: run, model, method, checkpoint, data, "
             "eval_conversations, base_side, eval_loss, perplexity (the tuned model's), tuned and base "
             "{eval_loss, perplexity, rouge_l, bleu}, generation {prompts, max_new_tokens, bleu_tokenize}, examples "
             "[{prompt, reference, base, tuned}], stability {temperature, runs, agreement, verdict, prompts}, "
             "forgetting {kl, ppl_base, ppl_tuned, verdict, advice, prompts} (or {skipped}), template "
             "{prompt_identical, tokens_identical, end_of_turn, trained_end, stops_on_trained_end, ok, "
             "generation_stopped_at_end_of_turn, generation_hit_max_new_tokens}, memory {model_gb, "
             "rss_after_load_gb, rss_with_base_gb, peak_rss_gb}, verdict, timing {part: seconds}, seconds, files.")
    sp.add_argument("model", help="run id/path (RUN@checkpoint-N), or a model folder / Hugging Face id / demo model "
                                  "with --data")
    sp.add_argument("--data", help="held-out conversations (default: the run's data/eval.jsonl)")
    sp.add_argument("--checkpoint", help="evaluate this checkpoint of the run: N or checkpoint-N")
    sp.add_argument("--samples", type=NONNEG_INT, default=None,
                    help=f"held-out prompts answered greedily (default {EVAL['samples']}; --full {EVAL_FULL['samples']})")
    sp.add_argument("--stability", type=NONNEG_INT, default=5, help="sampled answers per stability prompt (default 5)")
    sp.add_argument("--temperature", type=NONNEG_FLOAT, default=0.7, help="temperature of the stability answers (0.7)")
    sp.add_argument("--max-new-tokens", type=POS_INT, default=None,
                    help=f"longest greedy answer (default {EVAL['max_new_tokens']}; --full {EVAL_FULL['max_new_tokens']})")
    sp.add_argument("--full", action="store_true",
                    help=f"the long report: {EVAL_FULL['samples']} prompts, {EVAL_FULL['stability_prompts']} stability "
                         f"prompts, answers up to {EVAL_FULL['max_new_tokens']} tokens (the default takes about 2 "
                         "minutes for the demo's run on a 2-core CPU)")
    sp.add_argument("--no-probe", action="store_true", help="skip the forgetting probe")
    sp.add_argument("--loss-only", action="store_true", help="only eval loss and perplexity on --data (fast)")
    sp.add_argument("--base", action="store_true", help="with --loss-only: the run's base model instead")
    sp.add_argument("--max-seq-len", type=POS_INT, default=1024, help="with --loss-only: longest sample (default 1024)")
    json_flag(sp)

    sp = add("export", cmd_export, "export a run: adapter, merged model, GGUF, Ollama, Hub — each verified",
             "Export a run's tuned model. Targets (--to, comma list): adapter (PEFT folder), merged (the adapter "
             "merged into the base model's own weights read from disk, shard by shard, never into 4-bit weights), "
             "gguf (danlu's writer: f16, bf16, q8_0, q4_0, q4_1; K-quants such as q4_k_m through llama.cpp's "
             "quantiser), ollama (a Modelfile with a Go TEMPLATE derived from the chat template and checked with "
             "Go's text/template, and a stop for every end-of-turn token), hub (push the merged model, or the "
             "adapter, with its model card; the token comes from HF_TOKEN or `hf auth login`). Every part is "
             "reloaded and compared: the merged model's logits with the tuned model's; each GGUF by the gguf reader, "
             "transformers' GGUF loader and llama.cpp (llama-cpp-python, when installed): logits, next tokens, the "
             "tokenizer and the greedy answer to a held-out prompt. Written to a temporary folder and renamed when "
             "complete. --json keys: export_dir, run, base_model, method, targets, sizes, adapter_dir, merged_dir, "
             "merged_check {max_abs_diff, top1_agreement, bound, ok}, merged_logits_max_abs_diff, gguf [{type, "
             "path, bytes, writer, verify {reader, transformers, llama_cpp, bound, ok, problem}}], ollama "
             "{modelfile, gguf, stops, template, template_check, system, create}, hub, verified, notes, commands, "
             "seconds.")
    sp.add_argument("run", help="run id, unique part of one, path, or 'latest'")
    sp.add_argument("--to", help="targets: adapter, merged, gguf, ollama, hub (default adapter,merged)")
    sp.add_argument("--target", help=argparse.SUPPRESS)  # the older name of --to
    sp.add_argument("--out", help="export folder (default: <run>/export)")
    sp.add_argument("--gguf", default="f16", help="GGUF types, comma list: f16 (default), bf16, q8_0, q4_0, q4_1, "
                                                  "or K-quants q4_k_m, q5_k_m, q6_k, … (llama.cpp)")
    sp.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], help="dtype of the merged weights (default: the "
                                                                       "base model's own)")
    sp.add_argument("--name", help="file name stem of the GGUF files (default: the run id)")
    sp.add_argument("--llama-quantize", help="path of llama.cpp's llama-quantize for K-quants (or set "
                                              "DANLU_LLAMA_QUANTIZE; llama-cpp-python's quantiser otherwise)")
    sp.add_argument("--llama-cpp", help="a llama.cpp checkout: convert with its convert_hf_to_gguf.py instead")
    sp.add_argument("--hub-repo", help="Hub repository for the hub target, e.g. you/my-model")
    sp.add_argument("--public", action="store_true", help="create the Hub repository public (default private)")
    sp.add_argument("--from-checkpoint", metavar="N", help="export checkpoint N of the run instead of its final model "
                                                         "(a run that is still training exports only this way)")
    sp.add_argument("--system", help="the Ollama Modelfile's SYSTEM prompt (default: the one most of the run's training "
                                     "conversations share; \"\" for none)")
    sp.add_argument("--overwrite", action="store_true", help="replace an existing export folder (kept until the new "
                                                             "one is complete)")
    json_flag(sp)

    sp = add("model", None, "import a GGUF file as a Hugging Face model folder, or inspect one",
             "Models from GGUF files (llama.cpp / Ollama / LM Studio): inspect the header, or import the file as an "
             "ordinary Hugging Face model folder (safetensors, tokenizer, chat template, generation config) that "
             "danlu can fine-tune.")
    ms = sp.add_subparsers(dest="model_cmd", metavar="ACTION", required=True, parser_class=Parser)
    mi = ms.add_parser("import", help="import FILE.gguf as a model folder (dequantised, verified)",
                       description="Import a GGUF file whose architecture and quantisation transformers' GGUF loader "
                                   "supports (llama, mistral, qwen2, qwen3, gemma2/3, phi3, ...). The weights are "
                                   "dequantised, written as safetensors with the tokenizer, chat template and a "
                                   "generation_config.json that stops at the end-of-turn token, then loaded back and "
                                   "compared with the GGUF (logits and chat template). The folder is written under a "
                                   "temporary name and renamed when complete.")
    mi.set_defaults(func=cmd_model)
    mi.add_argument("file", help="the .gguf file")
    mi.add_argument("--out", help="folder to write (default: $DANLU_HOME/models/gguf-<name>-<dtype>)")
    mi.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16",
                    help="dtype of the saved weights (default bf16, half the size; fp32 keeps the dequantised values "
                         "exactly)")
    mi.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    mi.add_argument("--no-verify", action="store_true", help="skip loading the folder back to compare it")
    json_flag(mi)
    mn = ms.add_parser("inspect", help="show a GGUF file's architecture, size and tensor types, and whether it imports",
                       description="Read a GGUF file's header: architecture, parameters, tensor types, tokenizer, chat "
                                   "template; exits 2 with the reason when danlu cannot import it.")
    mn.set_defaults(func=cmd_model)
    mn.add_argument("file", help="the .gguf file")
    json_flag(mn)

    sp = add("demo-model", None, "build the offline demo model (Llama architecture, random init)")
    dm = sp.add_subparsers(dest="demo_cmd", metavar="ACTION", required=True, parser_class=Parser)
    b = dm.add_parser("build", help="build (once; cached) the demo model", description="build the demo model")
    b.set_defaults(func=cmd_demo_model)
    b.add_argument("--size", choices=["tiny", "small"], default="small", help="tiny (<1 M params) or small (~11 M)")
    b.add_argument("--out", help="folder to write (default: the cache in $DANLU_HOME/models)")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    json_flag(b)

    sp = add("quickstart", cmd_quickstart, "the whole job offline: probe, plan, data, train, eval, chat, export",
             "Run the whole job on the offline demo defaults: probe, import the real SmolLM2-135M-Instruct (once), "
             "prepare the sample data (its English half for this English-centric model), LoRA-train it in a run "
             "directory, compare eval loss before/after on held-out conversations, answer held-out questions with the "
             "base and the tuned model side by side, export the adapter and a merged model, and check the merged "
             "model's logits. About 6 minutes on a 2-core CPU; --model demo:tiny takes seconds.")
    sp.add_argument("--method", default=None, choices=["auto", "full", "lora", "qlora"],
                    help="lora (default: the demo's choice), full, qlora, or auto (the planner picks)")
    sp.add_argument("--size", choices=["tiny", "small"], default=None,
                    help="use the random-init demo model of this size (same as --model demo:tiny|demo:small)")
    sp.add_argument("--model", help="model to fine-tune (default demo:smollm2, the real SmolLM2-135M-Instruct; "
                                    "demo:tiny / demo:small are quick random-init models; or a folder / Hugging Face id)")
    sp.add_argument("--data", help="another dataset instead of the sample data")
    sp.add_argument("--epochs", type=float, default=None, help="epochs (default from presets/demo.yaml)")
    sp.add_argument("--max-steps", type=int, default=-1, help="stop after N optimizer steps")
    json_flag(sp)
    return p
