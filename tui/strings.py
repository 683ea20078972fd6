"""Every string the wizard shows, in English and Simplified Chinese, in one place.

Binding descriptions are keys starting with ``key_``; screens translate them when created
(:func:`tui.screens.base.translate_bindings`), so ``--lang`` applies to the footer too.
"""

from __future__ import annotations

import locale
import os

_HELP_COMMON_EN = ("Keys: ? help · Ctrl+P command palette · F2 light/dark · Tab moves between fields · "
                   "Esc goes back · Ctrl+Q quits. Mouse works too.")
_HELP_COMMON_ZH = "按键：? 帮助 · Ctrl+P 命令面板 · F2 明暗主题 · Tab 在字段间移动 · Esc 返回 · Ctrl+Q 退出。也可以用鼠标。"

STRINGS = {
    "en": {
        # keys (footer)
        "key_quit": "Quit", "key_refresh": "Refresh", "key_new": "New", "key_attach": "Attach", "key_chat": "Chat",
        "key_export": "Export", "key_help": "Help", "key_theme": "Theme", "key_back": "Back", "key_next": "Next",
        "key_reprobe": "Probe again", "key_sample": "Sample data", "key_replan": "Re-plan", "key_save": "Save config",
        "key_start": "Start training", "key_detach": "Detach", "key_stop": "Stop run",
        "key_checkpoint": "Checkpoint", "key_base": "Tuned/base",
        "key_clear": "Clear", "key_stop_or_back": "Stop/back", "key_export_now": "Export", "key_close": "Close",
        "key_cancel": "Cancel",
        # buttons
        "btn_back": "Back", "btn_next": "Next", "btn_save": "Save config", "btn_start": "Start training",
        "btn_export": "Export", "btn_no": "No, keep it off", "btn_yes_trust": "Yes, run its code",
        # welcome
        "welcome_title": "丹炉 danlu — fine-tune a chat model on one GPU",
        "welcome_body": "From “I have a GPU and some data” to chatting with your fine-tuned model and exporting it.",
        "new_finetune": "New fine-tune",
        "quickstart_cli": "Run the offline demo (the real SmolLM2-135M-Instruct, sample data)",
        "runs_on_disk": "Runs on disk ({root}) — Enter/a attach · c chat · e export",
        "col_run": "Run", "col_state": "State", "col_method": "Method", "col_step": "Step", "col_loss": "Loss",
        "no_runs": "no runs yet",
        "pick_run_first": "Pick a run in the table first (Tab moves there).",
        "quickstart_hint": "Demo: SmolLM2-135M-Instruct and the sample data are preselected at each step. "
                           "`danlu quickstart` runs the same job without the wizard.",
        # palette
        "cmd_new_help": "Start the guided steps: hardware → model → data → plan → train",
        "cmd_attach_latest": "Attach to the latest run", "cmd_attach_latest_help": "Open the training dashboard",
        "cmd_chat_latest": "Chat with the latest run", "cmd_chat_latest_help": "Load its tuned model and chat",
        "cmd_export_latest": "Export the latest run", "cmd_export_latest_help": "Adapter and merged model",
        "cmd_toggle_theme": "Toggle light/dark theme", "cmd_toggle_theme_help": "Also F2",
        "cmd_help": "Help for this step", "cmd_help_help": "Also ?",
        # hardware
        "step_hardware": "Step 1/4 · Hardware", "probing": "Probing the hardware…",
        "probe_failed": "The probe failed: {error}", "hw_gpus_found": "✓ {n} GPU(s) found",
        "hw_cpu_mode": "No usable GPU: danlu trains on the CPU. That is slow, but fine for the demo model.",
        "hw_accelerator": "Accelerator", "hw_driver": "Driver / CUDA", "hw_missing": "not installed",
        "hw_free": "free", "hw_other_procs": "other processes", "hw_cpu": "CPU", "hw_cores": "cores",
        "hw_ram": "RAM", "hw_disk": "Disk", "hw_pick_gpu": "Several GPUs: all of them (the plan spreads the run over them), or one (↑/↓).",
        "hw_all_gpus": "all {n}", "hw_link": "Interconnect", "rank_n": "rank {n}", "hw_all_gpus_name": "every GPU: DDP or FSDP2, as the plan decides",
        "col_what": "What", "col_value": "Value", "col_name": "Name", "col_free": "Free",
        "wait_probe": "Wait for the probe to finish.",
        # model
        "step_model": "Step 2/4 · Model", "computing_fit": "Checking what fits this machine…",
        "fit_for_machine": "What fits here for {task} (method {method}): the method danlu picks and its predicted "
                           "peak memory at {seq} tokens per sample. The Plan step plans again from your data. "
                           "Enter picks:",
        "fit_yes": "✓ {method}, peak {gb:.1f} GB",
        "pref_line": "Preference data ({form}): it trains {stages}, chosen on the Plan step. The preview shows each "
                     "prompt with its longer answer (one sequence of the pair).",
        "fmt_preference": "preference pairs", "stage_label": "Stage",
        "stage_sft": "sft: learn from the example answers", "stage_dpo": "dpo: prefer the chosen answer (DPO)",
        "stage_orpo": "orpo: SFT and preference in one loss (ORPO)",
        "stage_simpo": "simpo: preference without a reference model (SimPO)",
        "stage_kto": "kto: good and bad answers on their own (KTO)",
        "col_model": "Model", "col_family": "Family", "col_size": "Size", "col_fit": "Fit here",
        "does_not_fit": "does not fit",
        "model_custom_hint": "Or a Hugging Face id, a local folder, or a .gguf file to import (Enter checks it, offline "
                             "if there is no network):",
        "model_custom_placeholder": "Qwen/Qwen2.5-0.5B-Instruct, ~/models/my-model or a .gguf file",
        "gguf_ok": "{what} — Next imports it as a model folder (dequantised, verified)",
        "gguf_importing": "importing the GGUF file (about half a minute for a small model)…",
        "gguf_imported": "imported to {out}",
        "checking_model": "Checking…", "wait_fit": "Wait for the fit check.",
        "trust_remote_code": "trust_remote_code (run model code from the repository)",
        "trust_question": "Run Python code shipped with this model's repository?\n\nOnly do this for a model whose "
                          "authors you trust: the code runs with your user's rights. Most models (Llama, Qwen, "
                          "Mistral, Gemma, Phi-3) do not need it.",
        "licence_smollm2": "Apache-2.0 (SmolLM2-135M-Instruct, HuggingFaceTB)",
        "licence_demo": "Apache-2.0 (danlu's random-init demo model)",
        "license_note": "Licence: {license} — read it before you share the fine-tuned model.",
        "license_check": "see the model card",
        # data
        "step_data": "Step 3/4 · Data",
        "data_file_hint": "Dataset file (JSONL/JSON/CSV/Parquet; Alpaca, ShareGPT, messages…). Enter reads it; "
                          "Ctrl+O: the bundled sample.",
        "data_file_placeholder": "path/to/data.jsonl", "reading": "Reading {path}…",
        "fix_path": "check the path; Ctrl+O uses the bundled sample data", "file_not_found": "file not found: {path}",
        "data_summary_guess": "⚠ {records} records, {kept} would train — but their columns were guessed from "
                              "the contents: check the mapping below and press Apply mapping (or pick another file)",
        "confirm_mapping_first": "The columns were guessed: check the mapping and press Apply mapping first",
        "wiz_ev_proposed": "{evidence}; proposed mapping {flag} — check it below and press Apply mapping",
        "data_summary": "✓ {records} records · {kept} kept for training · {problems} problems · "
                        "{removed} dropped by cleaning",
        "data_format": "Format: {format} ({confidence}) — {evidence}", "mapping": "column mapping",
        "mapping_line": "column mapping: {mapping}",
        "mapping_title": "Column mapping — detection is unsure: say which column holds what, then Apply.",
        "mapping_hint": "question + answer columns, or one column with a list of turns",
        "map_instruction": "Question", "map_output": "Answer", "map_input": "Context", "map_system": "System",
        "map_history": "History", "map_messages": "Turn list", "map_none": "(none)",
        "btn_apply_mapping": "Apply mapping",
        "mapping_incomplete": "Pick a question and an answer column (or a column with a list of turns).",
        "preview": "Preview — as the model will see it", "problems": "Problems (↑/↓ shows the line and the fix)",
        "col_line": "Line", "col_turns": "Turns", "col_tokens": "Tokens", "col_user": "User",
        "col_assistant": "Assistant", "col_field": "Field", "col_problem": "Problem", "col_action": "Done",
        "no_problems": "no problems found",
        "problems_more": "(the first 500 are listed; {n} more in `danlu data inspect`)",
        "enter_jumps": "Enter: show this row in the preview",
        "not_in_training": "Line {line} is not in the training data (it was dropped).",
        "act_removed": "removed", "act_kept": "kept", "act_fixed": "repaired", "act_skipped": "skipped",
        "act_stopped": "stopped",
        "rendered_title": "chat template", "rendered_title_line": "line {line} · green = trained on",
        "render_more": "… {n} more characters", "n_tokens": "{n} tokens",
        "template_rejects": "The chat template rejects this conversation: {error}",
        "tok_no_model": "No model chosen: the turns are shown without a chat template.",
        "tok_loading": "Loading the tokenizer of {model}… (transformers loads in the background)",
        "tok_ready": "Chat template and tokens of {model}.",
        "tok_counting": "Counting tokens with the tokenizer of {model}…",
        "tok_failed": "The tokenizer of {model} did not load: {error}",
        "tok_count_failed": "(counting failed: {error})",
        "tok_sampled": "(tokens counted for the first {n} conversations)",
        "tok_wait": "(waiting for the tokenizer)", "tok_none": "(no token counts)",
        "tok_summary": "{n} conversations: median {median} · p95 {p95} · max {max} tokens · {over} over "
                       "max_seq_len {seq} (truncated in training)",
        "cleaning": "Cleaning (space toggles)",
        "clean_fix": "Repair broken rows where possible ({n}) — off by default (guesses)",
        "clean_exact_duplicate": "Drop exact duplicates ({n})",
        "clean_near_duplicate": "Drop near duplicates ({n})",
        "clean_overlong": "Drop rows over {chars} characters ({n})",
        "clean_too_long": "Drop rows over max_seq_len = {seq} tokens ({n}; else truncated)",
        "clean_info": "Always dropped: {empty} with an empty answer, {unusable} other unusable rows (see "
                      "Problems). {kept} conversations kept.",
        "token_lengths": "Token lengths against max_seq_len",
        "seq_hint": "(the Plan step starts from this)",
        "split_and_format": "Split and format",
        "eval_ratio": "Eval share", "split_info": "split: {train} train / {eval} eval conversations",
        "target": "Write as",
        "target_messages": "messages (OpenAI/TRL)", "target_sharegpt": "ShareGPT", "target_alpaca": "Alpaca",
        "target_note_messages": "role/content turns: what the trainer reads; nothing is lost.",
        "target_note_sharegpt": "from/value turns (LLaMA-Factory formatting: sharegpt); a system field "
                                "becomes the first turn.",
        "target_note_alpaca": "instruction/input/output, earlier turns in history (LLaMA-Factory formatting: "
                              "alpaca).",
        "target_cannot": "{n} conversation(s) with tool turns cannot be written as Alpaca and are left out.",
        "btn_save_copy": "Save cleaned copy", "key_save_copy": "Save copy",
        "saving_copy": "Writing {path}…", "copy_saved": "✓ Wrote {n} conversations to {path} (and dataset_info.json)",
        "no_data_yet": "No usable conversations yet: read a file first.",
        # plan
        "step_plan": "Step 4/4 · Plan", "planning": "Planning…",
        "plan_fits": "✓ The plan fits this machine.",
        "plan_no_fit": "✗ Nothing fits this machine with these settings — see the remedies below.",
        "tx_theme": "Theme", "tx_theme_help": "Pick a colour theme", "tx_quit": "Quit",
        "tx_quit_help": "Leave danlu (a training run goes on in its own process)", "tx_keys": "Keys",
        "tx_keys_help": "Show the keys of this screen and help for the focused field", "tx_keys_hide": "Keys",
        "tx_keys_hide_help": "Hide the keys panel", "tx_minimize": "Minimize",
        "tx_minimize_help": "Restore the maximized panel", "tx_maximize": "Maximize",
        "tx_maximize_help": "Show the focused panel alone", "tx_screenshot": "Screenshot",
        "tx_screenshot_help": "Save the screen as an SVG file",
        "palette_screen_action": "on this screen (key {k})", "palette_screen_action_nokey": "on this screen",
        "method_choice": "Method", "method_auto": "auto (the planner's pick)", "method_full": "full fine-tune",
        "method_lora": "LoRA", "method_qlora": "QLoRA (4-bit base)",
        "runs_as": "runs as: {geometry} (from the data's token lengths, as the trainer computes it)",
        "runs_as_unknown": "runs as: packed rows, sized from the data's token lengths when training starts",
        "plan_pick": "{method} · micro-batch {mb} × accumulation {ga} · seq len {seq} · {prec} · "
                     "grad checkpointing {gc} · {opt} · peak {peak:.2f} GB · {trainable} trainable params",
        "on": "on", "off": "off", "alternatives": "Alternatives:", "task_preset": "Task",
        "demo_lr_note": "(Demo model: random init, so it uses demo.yaml's higher learning rate.)",
        "demo_real_note": "(Demo model SmolLM2-135M: demo.yaml's settings, sized for a few minutes on a CPU.)",
        "bad_number": "A setting is not a valid number", "wait_plan": "Wait for the plan.",
        "fix_first": "Fix this setting first: {error}",
        "saving": "Preparing the run folder…", "starting": "Preparing the run and starting training…",
        "config_saved": "✓ Saved {path} — reproduce with: danlu train <that file>",
        # dashboard
        "dash_title": "Run {run} · {state}", "reading_events": "Reading events…",
        "chart_title": "loss (line) · eval loss (dots)", "chart_x": "step",
        "m_grad_norm": "grad-norm", "m_tokens_s": "tok/s", "m_pref_acc": "pref acc", "m_pref_eval": "eval acc", "m_margin": "margin",
        "m_logps": "logp c/r",
        "m_loss": "loss", "m_eval": "eval", "m_epoch": "epoch", "elapsed": "elapsed",
        "no_system_yet": "(no system samples yet)", "no_events_yet": "(no events yet)",
        "detached": "Detached from {run}: training continues. Re-attach from the Welcome screen.",
        "not_running": "The run is not running (state: {state}).",
        "stop_sent": "Asked the run to stop: it finishes the step, saves and exits.",
        "checkpoint_sent": "Asked the run to save a checkpoint now: it does after the current step.",
        "ev_step": "step {step}/{total}  loss {loss}", "ev_eval": "eval loss {loss} at step {step}",
        "ev_checkpoint": "✓ checkpoint saved at step {step} ({name})", "ev_final": "✓ final model saved: {path}",
        "ev_backoff": "⚠ out of memory at step {step}: continuing with {new} (was {old}); the effective batch "
                      "is unchanged — {reason}",
        "ev_geo": "micro-batch {mb} × accumulation {ga}",
        "ev_geo_packed": "packed rows of {pack} tokens, {mb} per micro-batch × accumulation {ga}",
        "ev_error": "✗ error: {message} — what to do: {hint}", "ev_error_nohint": "✗ error: {message}",
        "ev_done": "finished ({state}) after {step} steps in {seconds} s",
        "ev_resumed": "resumed from step {step} ({name})", "ev_status": "status: {state}",
        "state_pending": "pending", "state_running": "running", "state_done": "done", "state_failed": "failed",
        "state_stopped": "stopped", "state_crashed": "crashed (process gone)", "state_damaged": "damaged (status.json unreadable)",
        # chat
        "chat_title": "Chat · {run}", "loading_model": "Loading the model… (torch loads on first use)",
        "model_ready_tuned": "Tuned model answers — Enter sends, Esc stops, Ctrl+B base model, Ctrl+T side by side",
        "model_ready_base": "BASE model answers (adapter off) — Ctrl+B back to the tuned model",
        "ready_split": "Side by side: tuned, then base answer each prompt — Esc stops, Ctrl+T one pane",
        "btn_save_transcript": "Append",
        "generating": "Generating… (Esc stops)", "stopped": "stopped",
        "still_training": "danlu: run {run} is still training in its own process; `danlu attach` follows it, "
                          "`danlu` shows it.",
        "phase_starting": "starting the trainer", "phase_loading": "loading the model",
        "phase_replay": "base model answers general prompts (forgetting guard)",
        "phase_eval0": "evaluating before training", "phase_eval": "evaluating at step {step}",
        "phase_train": "training: the first step", "phase_final_eval": "final evaluation",
        "phase_saving": "saving the final model",
        "waiting_side": "(waits until the {side} answer ends)",
        "busy_streaming": "Still answering: Esc stops it, then try again",
        "pane_copied": "The conversation so far (its answers are the tuned model's); the base model answers from here:",
        "copied_answer": "↳ the tuned model's answer (copied):", "colon": ": ",
        "sampling_model": "Sampling: the model's recommended settings.",
        "sampling_greedy": "Sampling: greedy (temperature 0), as the evaluation.",
        "sampling_danlu": "Sampling: danlu's defaults (the model names none; the Modelfile's too). 0 = greedy.",
        "system_prompt": "System prompt", "system_placeholder": "optional", "max_tokens": "Max new tokens",
        "chat_placeholder": "Message, then Enter (↑ earlier ones)",
        "pane_tuned": "tuned", "pane_base": "base", "split_view": "Side by side",
        "save_transcript": "Save transcript (JSONL)", "transcript_saved": "Conversation appended to {path}",
        "speed": "{side}: {tokens} tokens, {tps} tokens/s", "no_base": "No base model to compare with",
        "key_split": "Side by side", "key_retry": "Retry", "key_save_transcript": "Save", "key_report": "Report",
        "report_title": "Evaluation report · {run}", "report_cached": "The saved report (eval.json); Ctrl+R makes it again.",
        "report_running": "Evaluating… (loss, greedy answers, stability, forgetting probe; a few minutes on a CPU)",
        "report_done": "✓ Report written to the run (eval.json, eval.md).", "key_rerun_report": "Evaluate again",
        "report_after_training": "The report evaluates the final model: wait until training ends.",
        "key_next_plan": "Next plan",
        "log_diagnosis": "diagnosis: {verdict} — n opens the next plan (or `danlu plan --from {run}`)",
        "verdict_clean": "clean", "verdict_under_fit": "under-fit", "verdict_over_fit": "over-fit",
        "verdict_diverged": "diverged", "verdict_unknown": "unknown",
        "next_after_training": "The next plan follows from the run's diagnosis: wait until training ends.",
        "next_planning": "Reading the run's diagnosis and planning the next run…",
        "next_plan_after": "After {run}: {summary}. Next: {next}. Its settings below are that run's with this change; "
                           "its training and held-out conversations are kept.",
        # export
        "export_title": "Export · {run}", "target_adapter": "LoRA adapter (small; needs the base model)",
        "target_merged": "Merged model (safetensors; stands alone)",
        "target_gguf": "GGUF for llama.cpp / LM Studio (types below)",
        "export_checked": "Each file written is loaded back and its answers compared with the tuned model's.",
        "target_ollama": "Ollama Modelfile (chat template and stop tokens)",
        "target_hub": "Push to the Hugging Face Hub (HF_TOKEN or `hf auth login`)",
        "merged_dtype": "Merged dtype", "dtype_of_base": "the base model's", "gguf_types": "GGUF types (size):",
        "hub_repo": "Hub repository", "via_llama_cpp": "via llama.cpp", "needs_llama_cpp": "needs llama.cpp",
        "destination": "Destination folder:", "free_space": "{gb} GB free there",
        "overwrite": "Overwrite a non-empty folder", "pick_target": "Pick at least one target.",
        # the wizard's own words for engine fixes that name CLI flags (tui.strings.say prefers wiz_<code>)
        "wiz_fix_export_exists": "choose another destination folder, or tick “Overwrite a non-empty folder” (the old "
                                 "export stays until the new one is complete)",
        "exporting": "Exporting… (loading the model, writing, reloading to verify)",
        "export_done": "✓ Exported to {path}", "verified": "verified: reloaded merged logits match within {diff}",
        "no_adapter_full": "LoRA adapter — none: this run fine-tuned all weights (full)",
        "no_final_yet": "This run has no final model yet; export works once training has finished.",
        # help
        "help_common": _HELP_COMMON_EN,
        "help_welcome": "WELCOME\n\nn (or Enter on “New fine-tune”) starts the guided steps. The table lists the "
                        "runs in your runs folder: Enter or a opens a run's dashboard (training keeps going if you "
                        "leave it), c chats with its tuned model, e exports it. r refreshes.",
        "help_hardware": "HARDWARE\n\nWhat danlu found: GPUs with free memory and other processes on them, the "
                         "driver, torch's build, RAM and disk. With no GPU danlu plans for the CPU. With several "
                         "GPUs pick one with ↑/↓. Ctrl+N goes on, r probes again.",
        "help_model": "MODEL\n\nEach preset shows the planner's verdict for this machine: the method that fits "
                      "(full, LoRA or QLoRA), the micro-batch and the peak memory. demo:tiny and demo:small are "
                      "built offline. Type a Hugging Face id or a local folder and press Enter to check it. "
                      "trust_remote_code asks before it is turned on.",
        "help_data": "DATA\n\nPick a dataset file (Enter reads it; Ctrl+O the bundled sample). danlu detects the "
                     "format and says why; when it is unsure, pick the question and answer columns and Apply. The "
                     "preview shows each conversation with the model's chat template (green: the tokens trained on). "
                     "Problems lists every bad row with its line: ↑/↓ shows it and the fix, Enter jumps to the row "
                     "in the preview. Tick the cleaning rules (the counts say how many rows each drops), check the "
                     "token lengths against max_seq_len, set the eval share and the format the training files are "
                     "written in (Ctrl+S also saves a cleaned copy). Ctrl+N goes on.",
        "help_plan": "PLAN\n\nThe engine's plan for your model, data, task and machine: the line at the top is what will "
                     "run; the bar splits its predicted memory by term; each bullet is one decision with where it came "
                     "from (the planner, your data, the task preset, the demo model's settings, or you). Change the "
                     "task, the method or any setting and the whole plan is made again a moment after you stop typing "
                     "(Ctrl+R now); adapter settings are hidden for a full fine-tune. Ctrl+S saves exactly that plan's "
                     "config in a new run folder (`danlu plan --save` writes the same); Ctrl+T starts training in the "
                     "background and opens the dashboard.",
        "help_dashboard": "DASHBOARD\n\nA viewer of the run folder: loss and eval loss, lr, grad-norm, tokens/s, "
                          "progress and ETA, GPU/CPU/RAM. d (or Esc) detaches: training continues and the run "
                          "stays on the Welcome screen. s stops the run cleanly (finishes the step, saves); k saves a "
                          "checkpoint now. Out-of-memory back-offs, checkpoints and errors appear below in plain "
                          "words. c chats, r opens the evaluation report (after training), e exports.",
        "help_chat": "CHAT\n\nThe model loads in the background. Enter sends; tokens stream in; Esc stops the "
                     "reply (Esc again goes back); ↑/↓ recall earlier messages. Ctrl+B switches between the tuned "
                     "model and the base model (the same weights with the adapter switched off); Ctrl+T shows both "
                     "side by side for every prompt. The panel on the right holds the system prompt and the sampling "
                     "settings (temperature 0 = greedy). Ctrl+Y retries the last message, Ctrl+S appends the "
                     "conversation to the transcript file as a training-format JSONL line, Ctrl+R opens the "
                     "evaluation report, Ctrl+L clears the conversation.",
        "help_report": "REPORT\n\nThe run's evaluation: eval loss and perplexity of the base and the tuned model, "
                       "ROUGE-L and BLEU of greedy answers against the references, stability of sampled answers, "
                       "a forgetting probe on general prompts, examples and a template check. It is saved in the "
                       "run as eval.json and eval.md (`danlu eval RUN` makes the same). Ctrl+R evaluates again.",
        "help_export": "EXPORT\n\nThe adapter is small and needs the base model; the merged model stands alone "
                       "(safetensors, the base's own precision) and is reloaded to verify its logits. GGUF files "
                       "run in llama.cpp, LM Studio and Ollama: each is read back and run in transformers and "
                       "llama.cpp against the merged model (logits, tokenizer, greedy answer). The Ollama Modelfile "
                       "gets a template derived from the chat template and checked with Go, and a stop for every "
                       "end-of-turn token. Sizes are shown next to each choice. Ctrl+E exports; the old export stays "
                       "until the new one is complete. The commands to use the result appear below.",
    },
    "zh": {
        "key_quit": "退出", "key_refresh": "刷新", "key_new": "新建", "key_attach": "查看", "key_chat": "对话",
        "key_export": "导出", "key_help": "帮助", "key_theme": "主题", "key_back": "返回", "key_next": "下一步",
        "key_reprobe": "重新检测", "key_sample": "示例数据", "key_replan": "重新规划", "key_save": "保存配置",
        "key_start": "开始训练", "key_detach": "离开", "key_stop": "停止训练",
        "key_checkpoint": "存检查点", "key_base": "微调/基座",
        "key_clear": "清空", "key_stop_or_back": "停止/返回", "key_export_now": "导出", "key_close": "关闭",
        "key_cancel": "取消",
        "btn_back": "返回", "btn_next": "下一步", "btn_save": "保存配置", "btn_start": "开始训练",
        "btn_export": "导出", "btn_no": "不，保持关闭", "btn_yes_trust": "是，运行其代码",
        "welcome_title": "丹炉 danlu —— 单卡微调对话模型",
        "welcome_body": "从“我有一张显卡和一些数据”到与微调后的模型对话并导出。",
        "new_finetune": "新建微调",
        "quickstart_cli": "离线演示（真实模型 SmolLM2-135M-Instruct，示例数据）",
        "runs_on_disk": "磁盘上的训练（{root}）—— 回车/a 查看 · c 对话 · e 导出",
        "col_run": "训练", "col_state": "状态", "col_method": "方法", "col_step": "步数", "col_loss": "损失",
        "no_runs": "还没有训练",
        "pick_run_first": "请先在表格中选择一个训练（Tab 切换过去）。",
        "quickstart_hint": "演示：每一步都已预选 SmolLM2-135M-Instruct 和示例数据。`danlu quickstart` 不经向导完成同样的任务。",
        "cmd_new_help": "开始引导：硬件 → 模型 → 数据 → 方案 → 训练",
        "cmd_attach_latest": "查看最近的训练", "cmd_attach_latest_help": "打开训练面板",
        "cmd_chat_latest": "与最近的训练对话", "cmd_chat_latest_help": "加载微调后的模型并对话",
        "cmd_export_latest": "导出最近的训练", "cmd_export_latest_help": "适配器与合并模型",
        "cmd_toggle_theme": "切换明暗主题", "cmd_toggle_theme_help": "也可按 F2",
        "cmd_help": "本步骤的帮助", "cmd_help_help": "也可按 ?",
        "step_hardware": "第 1/4 步 · 硬件", "probing": "正在检测硬件…",
        "probe_failed": "检测失败：{error}", "hw_gpus_found": "✓ 找到 {n} 张 GPU",
        "hw_cpu_mode": "没有可用的 GPU：danlu 将在 CPU 上训练。速度慢，但足够跑演示模型。",
        "hw_accelerator": "加速器", "hw_driver": "驱动 / CUDA", "hw_missing": "未安装",
        "hw_free": "可用", "hw_other_procs": "其他进程", "hw_cpu": "CPU", "hw_cores": "核",
        "hw_ram": "内存", "hw_disk": "磁盘", "hw_pick_gpu": "有多张 GPU：全部使用（由规划分摊到各卡），或用 ↑/↓ 选一张。",
        "hw_all_gpus": "全部 {n} 张", "hw_link": "互连", "rank_n": "进程 {n}", "hw_all_gpus_name": "所有 GPU：DDP 或 FSDP2，由规划决定",
        "col_what": "项目", "col_value": "值", "col_name": "名称", "col_free": "可用",
        "wait_probe": "请等待检测完成。",
        "step_model": "第 2/4 步 · 模型", "computing_fit": "正在估算本机能训练哪些模型…",
        "fit_for_machine": "本机适配（{task}，方法 {method}）：danlu 选的方法和每条样本 {seq} token 时的预计峰值内存；"
                           "方案步骤会按你的数据重新规划。回车选择：",
        "fit_yes": "✓ {method}，峰值 {gb:.1f} GB",
        "pref_line": "偏好数据（{form}）：可用于 {stages}，在方案步骤里选择。预览显示每个问题和它较长的回答（数据对中的一条序列）。",
        "fmt_preference": "偏好数据对", "stage_label": "阶段",
        "stage_sft": "sft：从示例回答学习", "stage_dpo": "dpo：偏向选中的回答（DPO）",
        "stage_orpo": "orpo：SFT 与偏好合成一个损失（ORPO）", "stage_simpo": "simpo：不需要参考模型的偏好学习（SimPO）",
        "stage_kto": "kto：分别学习好回答和坏回答（KTO）",
        "msg_pf_evidence": "{records} 条记录中有 {n} 条是{what}", "msg_pf_pairs": "选中/被拒回答对",
        "msg_pf_unpaired": "标为好或坏的回答", "msg_pf_fix_line": "修正或删除这一行",
        "col_model": "模型", "col_family": "系列", "col_size": "规模", "col_fit": "本机适配",
        "does_not_fit": "放不下",
        "model_custom_hint": "或输入 Hugging Face 模型 id、本地目录，或要导入的 .gguf 文件（回车检查；无网络时离线检查）：",
        "model_custom_placeholder": "Qwen/Qwen2.5-0.5B-Instruct、~/models/my-model 或 .gguf 文件",
        "gguf_ok": "{what} —— 下一步将其导入为模型目录（反量化并校验）",
        "gguf_importing": "正在导入 GGUF 文件（小模型约半分钟）…",
        "gguf_imported": "已导入到 {out}",
        "checking_model": "检查中…", "wait_fit": "请等待适配检查完成。",
        "trust_remote_code": "trust_remote_code（运行模型仓库中的代码）",
        "trust_question": "要运行此模型仓库附带的 Python 代码吗？\n\n只对你信任其作者的模型这样做：代码将以你的用户权限运行。"
                          "大多数模型（Llama、Qwen、Mistral、Gemma、Phi-3）不需要。",
        "licence_smollm2": "Apache-2.0（SmolLM2-135M-Instruct，HuggingFaceTB）",
        "licence_demo": "Apache-2.0（danlu 随机初始化的演示模型）",
        "license_note": "许可：{license} —— 分享微调模型前请阅读。", "license_check": "见模型卡",
        "step_data": "第 3/4 步 · 数据",
        "data_file_hint": "数据文件（JSONL/JSON/CSV/Parquet；Alpaca、ShareGPT、messages…）。回车读取；Ctrl+O：自带示例。",
        "data_file_placeholder": "path/to/data.jsonl", "reading": "正在读取 {path}…",
        "fix_path": "检查路径；Ctrl+O 使用自带示例数据", "file_not_found": "找不到文件：{path}",
        "data_summary_guess": "⚠ {records} 条记录，{kept} 条可训练 —— 但列是根据内容猜的：请检查下方的列映射并点“应用映射”（或换一个文件）",
        "confirm_mapping_first": "列是猜出来的：请先检查列映射并点“应用映射”",
        "data_summary": "✓ {records} 条记录 · 训练用 {kept} · {problems} 个问题 · 清洗去掉 {removed}",
        "data_format": "格式：{format}（{confidence}）—— {evidence}", "mapping": "列映射",
        "mapping_line": "列映射：{mapping}",
        "mapping_title": "列映射 —— 格式识别不确定：请指定各列的含义，然后点“应用映射”。",
        "mapping_hint": "问题列 + 回答列，或一列对话轮次列表",
        "map_instruction": "问题", "map_output": "回答", "map_input": "上下文", "map_system": "系统",
        "map_history": "历史", "map_messages": "轮次列表", "map_none": "（无）",
        "btn_apply_mapping": "应用映射",
        "mapping_incomplete": "请选择问题列和回答列（或一列对话轮次列表）。",
        "preview": "预览 —— 模型看到的样子", "problems": "问题（↑/↓ 查看行号与修复方法）",
        "col_line": "行", "col_turns": "轮数", "col_tokens": "token", "col_user": "用户", "col_assistant": "助手",
        "col_field": "字段", "col_problem": "问题", "col_action": "处理", "no_problems": "没有发现问题",
        "problems_more": "（只列出前 500 个；其余 {n} 个见 `danlu data inspect`）",
        "enter_jumps": "回车：在预览中显示这一行",
        "not_in_training": "第 {line} 行不在训练数据中（已去掉）。",
        "act_removed": "去掉", "act_kept": "保留", "act_fixed": "已修复", "act_skipped": "跳过", "act_stopped": "停止",
        "rendered_title": "对话模板", "rendered_title_line": "第 {line} 行 · 绿色 = 参与训练",
        "render_more": "… 还有 {n} 个字符", "n_tokens": "{n} 个 token",
        "template_rejects": "对话模板不接受这条对话：{error}",
        "tok_no_model": "未选择模型：对话轮次不套用对话模板显示。",
        "tok_loading": "正在加载 {model} 的分词器…（transformers 在后台加载）",
        "tok_ready": "{model} 的对话模板与 token 数。",
        "tok_counting": "正在用 {model} 的分词器统计 token…",
        "tok_failed": "{model} 的分词器加载失败：{error}",
        "tok_count_failed": "（统计失败：{error}）",
        "tok_sampled": "（只统计了前 {n} 条对话）",
        "tok_wait": "（等待分词器）", "tok_none": "（没有 token 统计）",
        "tok_summary": "{n} 条对话：中位数 {median} · p95 {p95} · 最长 {max} token · {over} 条超过 "
                       "max_seq_len {seq}（训练时截断）",
        "cleaning": "清洗（空格键切换）",
        "clean_fix": "修复可修复的损坏行（{n}）——默认关闭：修复是推测",
        "clean_exact_duplicate": "去掉完全重复（{n}）",
        "clean_near_duplicate": "去掉近似重复（{n}）",
        "clean_overlong": "去掉超过 {chars} 字符的行（{n}）",
        "clean_too_long": "去掉超过 max_seq_len = {seq} token 的行（{n}；否则截断）",
        "clean_info": "总是去掉：{empty} 条空回答，{unusable} 条其他无法使用的行（见“问题”）。保留 {kept} 条对话。",
        "token_lengths": "token 长度与 max_seq_len",
        "seq_hint": "（方案步骤以此为起点）",
        "split_and_format": "划分与格式",
        "eval_ratio": "验证集比例", "split_info": "划分：训练 {train} / 验证 {eval} 条对话",
        "target": "写成",
        "target_messages": "messages（OpenAI/TRL）", "target_sharegpt": "ShareGPT", "target_alpaca": "Alpaca",
        "target_note_messages": "role/content 轮次：训练器直接读取的格式，不丢信息。",
        "target_note_sharegpt": "from/value 轮次（LLaMA-Factory 的 sharegpt 格式）；system 字段变成第一轮。",
        "target_note_alpaca": "instruction/input/output，之前的轮次放进 history（LLaMA-Factory 的 alpaca 格式）。",
        "target_cannot": "{n} 条含工具调用的对话无法写成 Alpaca，将被略过。",
        "btn_save_copy": "保存清洗后的副本", "key_save_copy": "保存副本",
        "saving_copy": "正在写入 {path}…", "copy_saved": "✓ 已将 {n} 条对话写入 {path}（并写入 dataset_info.json）",
        "no_data_yet": "还没有可用的对话：请先读取文件。",
        "step_plan": "第 4/4 步 · 方案", "planning": "规划中…",
        "plan_fits": "✓ 方案在本机放得下。",
        "plan_no_fit": "✗ 以当前设置本机放不下 —— 见下方的补救办法。",
        "tx_theme": "主题", "tx_theme_help": "选择配色主题", "tx_quit": "退出",
        "tx_quit_help": "退出 danlu（训练在自己的进程里继续）", "tx_keys": "按键",
        "tx_keys_help": "显示本界面的按键和当前输入框的帮助", "tx_keys_hide": "按键", "tx_keys_hide_help": "隐藏按键面板",
        "tx_minimize": "还原", "tx_minimize_help": "还原最大化的面板", "tx_maximize": "最大化",
        "tx_maximize_help": "只显示当前面板", "tx_screenshot": "截图", "tx_screenshot_help": "把当前界面存成 SVG 文件",
        "palette_screen_action": "本界面的操作（按键 {k}）", "palette_screen_action_nokey": "本界面的操作",
        "method_choice": "方法", "method_auto": "自动（规划器的选择）", "method_full": "全参数微调",
        "method_lora": "LoRA", "method_qlora": "QLoRA（4 位基座）",
        "runs_as": "实际运行：{geometry}（按数据的 token 长度计算，与训练时相同）",
        "runs_as_unknown": "实际运行：打包的行，训练开始时按数据 token 长度确定",
        "plan_pick": "{method} · 微批 {mb} × 累积 {ga} · 序列长度 {seq} · {prec} · 梯度检查点 {gc} · {opt} · "
                     "峰值 {peak:.2f} GB · 可训练参数 {trainable}",
        "on": "开", "off": "关", "alternatives": "其他方案：", "task_preset": "任务",
        "demo_lr_note": "（演示模型随机初始化，因此使用 demo.yaml 中较高的学习率。）",
        "demo_real_note": "（演示模型 SmolLM2-135M：使用 demo.yaml 的设置，在 CPU 上几分钟即可完成。）",
        "bad_number": "有设置不是有效数字", "wait_plan": "请等待规划完成。",
        "fix_first": "请先改正这项设置：{error}",
        "saving": "正在准备训练目录…", "starting": "正在准备训练目录并开始训练…",
        "config_saved": "✓ 已保存 {path} —— 复现：danlu train <该文件>",
        "dash_title": "训练 {run} · {state}", "reading_events": "正在读取事件…",
        "chart_title": "训练损失（线）· 验证损失（点）", "chart_x": "步",
        "m_grad_norm": "梯度范数", "m_tokens_s": "token/秒", "m_pref_acc": "偏好准确", "m_pref_eval": "验证准确", "m_margin": "奖励差",
        "m_logps": "选/拒 logp",
        "m_loss": "损失", "m_eval": "验证", "m_epoch": "轮次", "elapsed": "已用",
        "no_system_yet": "（还没有系统采样）", "no_events_yet": "（还没有事件）",
        "detached": "已离开 {run}：训练继续进行。可在欢迎页重新查看。",
        "not_running": "该训练未在运行（状态：{state}）。",
        "stop_sent": "已请求停止：完成当前步、保存后退出。",
        "checkpoint_sent": "已请求立即保存检查点：当前步完成后保存。",
        "ev_step": "第 {step}/{total} 步  损失 {loss}", "ev_eval": "第 {step} 步验证损失 {loss}",
        "ev_checkpoint": "✓ 第 {step} 步已保存检查点（{name}）", "ev_final": "✓ 最终模型已保存：{path}",
        "ev_backoff": "⚠ 第 {step} 步显存不足：改用 {new} 继续，有效批量不变 —— {reason}",
        "ev_geo": "微批 {mb} × 累积 {ga}", "ev_geo_packed": "打包长度 {pack} token、每微批 {mb} 行 × 累积 {ga}",
        "ev_error": "✗ 错误：{message} —— 处理办法：{hint}", "ev_error_nohint": "✗ 错误：{message}",
        "ev_done": "训练结束（{state}），共 {step} 步，用时 {seconds} 秒",
        "ev_resumed": "从第 {step} 步恢复（{name}）", "ev_status": "状态：{state}",
        "log_loading": "正在加载 {model}，用于 {method} 训练",
        "log_plan": "方案：{summary}",
        "stage_load": "加载", "stage_hub": "Hub", "stage_adapter": "适配器", "stage_merged": "合并", "stage_verify": "验证",
        "stage_gguf": "GGUF", "stage_ollama": "Ollama",
        "msg_ex_load": "加载分词器和微调模型，用于对比验证", "msg_ex_hub": "把 {folder} 推送到 {repo}",
        "msg_ex_adapter": "写出适配器", "msg_ex_merging": "逐个分片合并进基座模型的 {dtype} 权重",
        "msg_ex_verify_merged": "重新加载合并模型并对比 logits", "msg_ex_gguf": "写出 {q}", "msg_ex_of": "{q}：{text}",
        "msg_ex_ollama": "写出 Modelfile，并用 Go 检查其模板", "msg_ex_read_back": "用 gguf 读取器读回",
        "msg_ex_load_gguf": "用 transformers 的 GGUF 加载器加载", "msg_ex_llama_cpp": "在 llama.cpp（llama-cpp-python）中运行",
        "msg_ex_tensors": "已写出 {i}/{n} 个张量", "msg_ex_merged_so_far": "{file}：已合并 {n} 个适配器权重",
        "msg_ex_retyped": "{file}：已按 {dtype} 写出 {n} 个张量",
        "msg_ex_sum_head": "已导出 {run}", "msg_ex_sum_head_to": "已把 {run} 导出到 {path}",
        "msg_ex_sum_adapter": "  适配器   {path}", "msg_ex_sum_merged": "  合并模型 {path}",
        "msg_ex_sum_merged_checked": "  合并模型 {path} —— 已重新加载，logits 与微调模型相差 {diff:.2e} 以内（上限 {bound:g}）",
        "msg_ex_part_tf": "transformers：logits 相差 {diff:.3f} 以内，下一个 token 相同 {top1:.0%}",
        "msg_ex_part_lc": "llama.cpp：logits 相差 {diff:.3f} 以内，下一个 token 相同 {top1:.0%}，分词器{tok}{greedy}",
        "msg_ex_same": "一致", "msg_ex_different": "不一致", "msg_ex_greedy_same": "，贪心回答一致",
        "msg_ex_greedy_differs": "，贪心回答不同", "msg_ex_part_lc_skipped": "未在 llama.cpp 中运行（{why}）",
        "msg_ex_part_template": "对话模板{state}，回合结束 token id {eot}", "msg_ex_embedded": "已内嵌",
        "msg_ex_sum_gguf": "  GGUF     {path}（{mb:.0f} MB，{type}；{writer}）", "msg_ex_sum_parts": "           {parts}",
        "msg_ex_sum_ollama": "  Ollama   {path} —— 模板：{template}；停止符 {stops}", "msg_ex_sum_hub": "  Hub      {url}",
        "msg_ex_sum_note": "  注意：{note}", "msg_ex_sum_use": "用法：",
        "msg_ex_template_checked": "已推导并用 Go 的 text/template 检查",
        "msg_ex_template_none": "无：依赖 GGUF 内嵌的对话模板（需要 Ollama 0.30 或更新）—— {why}",
        "msg_ex_template_differs": "推导出的模板与对话模板渲染结果不同（见 danlu_export.json）",
        "msg_ex_no_go": "未安装 Go，无法用 text/template 检查推导出的模板",
        "estage_load": "加载", "estage_loss": "损失", "estage_generate": "回答", "estage_stability": "稳定性",
        "estage_forgetting": "遗忘探测", "estage_template": "模板", "estage_write": "写入",
        "msg_ev_load": "加载 {what}", "msg_side_tuned": "微调", "msg_side_base": "基座",
        "msg_ev_loss": "在 {n} 条留出对话上计算验证损失（{sides}）",
        "msg_ev_generate": "{side}：对留出问题的贪心回答 {d}/{n}",
        "msg_ev_stability": "问题 {i}/{n}：温度 {temp:g} 下的 {runs} 个回答",
        "msg_ev_forget_base": "基座模型回答通用问题 {d}/{n}",
        "msg_ev_forget_base_tokens": "基座模型回答通用问题，第 {k}/{of} 个 token",
        "msg_ev_generate_tokens": "{side}：对留出问题的贪心回答 {d}/{n}，第 {k}/{of} 个 token",
        "msg_ev_forget": "通用问题 {i}/{n}：微调模型离基座回答有多远", "msg_ev_template": "检查对话提示是否与训练格式一致",
        "msg_ev_write": "写出 eval.json 和 eval.md",
        # the evaluation report (engine.infer.evaluate.markdown), phrase by phrase
        "msg_rep_title": "# {name} 的评估", "msg_rep_about": "基座模型：`{model}`，方法 {method}",
        "msg_rep_about_ckpt": "，检查点 `{ckpt}`", "msg_rep_about_data": "；留出数据：`{data}`（{n} 条对话）。",
        "msg_rep_pf_title": "## 偏好（{stage}）",
        "msg_rep_pf_text": "在 {n} 对留出数据上：模型认为选中回答（按每个 token）比被拒回答更可能的比例，以及每个 token "
                           "的平均对数概率差。",
        "msg_rep_pf_accuracy": "偏好准确率", "msg_rep_pf_margin": "差值（nats/token）",
        "msg_ev_pref": "{side}：在 {n} 对留出数据上比较偏好，批次 {d}/{b}", "estage_preference": "偏好",
        # preference stages (engine.data.preference, engine.plan.value)
        "msg_data_pairs": "{n} 个训练数据对，截断后较长回答所在序列共 {tokens:,} token",
        "msg_data_answers": "{n} 个训练回答，截断后共 {tokens:,} token",
        "msg_stage_why_kto": "{what}；{ref}；每个回答旁边还要算一个不匹配提示的回答（KTO 的 KL 估计），所以内存按每个样本两条序列规划",
        "msg_epochs_pref": "1 轮：偏好阶段至少把每{many}看一遍",
        "msg_geo_pairs": "微批 {mb} × 累积 {ga} = 每步 {samples} {what}", "msg_err_preference_data": "这是偏好数据（{form}），用于训练偏好阶段（{stages}），不是监督微调数据",
        "msg_fix_preference_data": "加上 --stage {stage}（向导的方案步骤也提供），或只用较好的回答作为对话训练：danlu data convert FILE --to messages",
        "msg_batch_packed_ranks": "微批 {mb} × 累积 {ga}（{why}），在 {ranks} 个设备上各以 {pack} token 的打包行 × 累积 {rga} 运行：每步约 {samples} {one}、{tokens:,} token",
        "msg_batch_ranks": "微批 {mb} × 累积 {ga} × {ranks} 个设备 = 每步 {samples} {one}（{why}）",
        "msg_dist_batch": "微批 {mb} × 累积 {ga} × {ranks} 个进程 = 所有设备合计每步 {eff} 个样本",
        "msg_dist_fits": "每个设备 {peak:.1f} GB，微批 {mb}，每步约 {s:.3g} 秒",
        "msg_dist_fits_host": "每个设备 {peak:.1f} GB，微批 {mb}，每步约 {s:.3g} 秒，每个节点需 {host:.0f} GB 主机内存",
        "msg_link_nvlink": "NVLink（每块 GPU {links} 条活动链路）", "msg_link_pcie": "PCIe（无 NVLink）",
        "msg_dist_layout": "{world} 个设备：{gpus} 块 GPU × {nodes} 个节点，每块 {gb:g} GB，经 {link} 互连",
        "msg_dist_layout_cpu": "CPU 上 {world} 个进程（gloo）× {nodes} 个节点，每个进程 {gb:g} GB 内存",
        "msg_dist_no_fit": "每个设备需要 {peak:.1f} GB，可用 {usable:.1f} GB",
        "msg_dist_no_host": "每个节点需要 {host:.0f} GB 主机内存，可用 {usable:.0f} GB",
        "msg_dist_none": "都放不下：最小需求是每个设备 {peak:.1f} GB（{strategy}，{method}）",
        "msg_dist_pick": "{strategy}，方法 {method}：{reason}",
        "msg_dist_pick_faster": "{text}；比 {other} 快 {pct:.0f}%",
        "msg_dist_pick_times": "{text}；速度约为 {other} 的 {x:.1f} 倍",
        "msg_dist_pick_method": "{text}（{methods} 在任何策略下都放不下）",
        "msg_dist_pick_offload": "{text}（{methods} 只有卸载到 CPU 才放得下，慢好几倍）",
        "msg_dist_pick_over": "{text}；{others} 会更快，但放不下",
        "msg_dist_pick_same": "{text}；和 {other} 一样快，设置更简单",
        "msg_dist_timeout": "某个进程崩溃或卡住时，运行在 {s} 秒内结束（集合通信超时）",
        "msg_dist_what_ddp": "DDP（每个设备一份完整副本）",
        "msg_dist_what_fsdp": "FSDP2 全分片（权重、梯度和优化器状态分摊到各设备）",
        "msg_dist_what_fsdp_offload": "FSDP2 + CPU 卸载（分片和优化器放在主机内存）",
        "msg_dist_what_single": "单个设备",
        "msg_err_strategy_one": "策略 {strategy} 需要不止一个设备",
        "msg_fix_strategy_one": "用 --gpus N（N ≥ 2）规划，或设 strategy=single",
        "msg_geo_packed_ranks": "{pack} token 的打包行 × 累积 {ga} × {ranks} 个设备 ≈ 每步 {samples} {what}",
        "msg_geo_ranks": "微批 {mb} × 累积 {ga} × {ranks} 个设备 = 每步 {samples} {what}",
        "msg_more_devices": "更多或更大的设备，或者更小的模型",
        "msg_pairs": "个数据对", "msg_pairs_kto": "个回答",
        "msg_u_convs": "条对话", "msg_u_conv_s": "条对话", "msg_u_pairs": "个数据对", "msg_u_answers": "个回答",
        "msg_lr_pref": "学习率 {lr:g}：SFT 学习率 {sft:g} 的十分之一（{why}）；全参数偏好微调会调整一个已经会回答的模型的"
                       "每个权重，指南（DPO、Zephyr）用的学习率低一个数量级甚至更多",
        "msg_lr_pref_adapter": "学习率 {lr:g}：沿用 SFT 的适配器学习率（{why}）；适配器的低秩本身就限制了偏好调优能把模型"
                               "推多远（TRL 的 LoRA DPO 示例用 5e-4，是其 SFT 学习率的五倍；这里用十分之一时留出数据上的"
                               "偏好几乎不动）",
        "msg_pf_duplicate": "重复的数据对", "msg_pf_empty": "{side} 回答为空",
        "msg_pf_fix_conversational": "改用 --to preference", "msg_pf_fix_to_kto": "改用 --to kto",
        "msg_pf_fix_fields": "每条记录要有 prompt、一个选中回答和一个被拒回答（TRL 或 LLaMA-Factory 格式；见 "
                             "`danlu data inspect --help`）",
        "msg_pf_identical": "选中和被拒的是同一个回答：无从比较",
        "msg_pf_length_bias": "{pct:.0f}% 的数据对中选中回答是{which}的那个：DPO 会学成回答得更{how}而不是更好"
                              "（请加入更好的回答{other}的数据对）",
        "msg_pf_longer": "较长", "msg_pf_shorter": "较短",
        "msg_pf_not_preference": "不是偏好数据：记录里没有选中/被拒回答（也没有 prompt/completion/label）",
        "msg_pf_other_form": "不是 {what} 记录",
        "msg_pf_prompt_in_answer": "问题被重复在回答里（prompt 切分对了吗？）",
        "msg_pf_trl_one_turn": "TRL 标准格式只能放一个问题、不带系统提示；第 {line} 行有 {n} 轮",
        "msg_pf_turns": "prompt 必须以用户轮次结尾", "msg_pf_unknown_target": "未知的偏好格式 {target}",
        "msg_pf_unpaired_only_kto": "未配对的记录（prompt/completion/label）只能写成 KTO 格式",
        "msg_pf_unreadable": "{what}", "msg_pf_unusable": "{why}",
        "msg_ref_adapter": "参考模型就是关闭适配器的同一个模型：没有第二份",
        "msg_ref_copy": "参考模型是起点权重的一份冻结副本（已计入内存）", "msg_ref_precomputed": "参考模型的对数概率在训练前一次算好（不保留第二份权重）", "msg_ref_precomputed_fit": "参考模型的对数概率在训练前一次算好（第二份权重会让峰值达到 {gb:.1f} GB）", "msg_ref_none": "不需要参考模型",
        "msg_st_dpo": "DPO：相对参考模型，提高选中回答相对被拒回答的概率（beta {beta:g}：允许离参考模型多远）",
        "msg_st_kto": "KTO：相对参考模型，分别提高好回答、降低坏回答的概率（beta {beta:g}）",
        "msg_st_orpo": "ORPO：选中回答上的 SFT 损失，加上对被拒回答的几率比惩罚（权重 {beta:g}），不需要参考模型",
        "msg_st_simpo": "SimPO：选中与被拒回答按长度归一的概率之间的间隔（beta {beta:g}），不需要参考模型",
        "msg_stage_why": "{what}；{ref}；一个数据对的两个回答在同一次前向中计算，所以内存按每个样本两条序列规划",
        "msg_sum_stage": "{stage}（beta {beta:g}）+ {method}",
        "msg_target_pref": "偏好阶段每步至少 {n} {many}", "msg_want_beta": "大于 0（例如 {example}）",
        "msg_rep_bold": "**{text}。**", "msg_rep_about_side": "{side}。", "msg_rep_base": "基座", "msg_rep_tuned": "微调", "msg_rep_loss": "验证损失", "msg_rep_ppl": "困惑度",
        "msg_rep_rouge": "ROUGE-L F1（贪心，重复惩罚 {rep:g}，{n} 个问题）",
        "msg_rep_dx_title": "## 训练诊断", "msg_rep_dx_forget": "遗忘探测：{verdict}（KL {kl:.3f}）",
        "msg_rep_same_plan": "同样的计划", "msg_rep_next": "下一步：{what}",
        "msg_rep_next_cmd": " —— `danlu plan --from RUN` 写出这份计划。",
        "msg_rep_st_title": "## 稳定性",
        "msg_rep_st_text": "同一问题在温度 {temp:g} 下回答 {runs} 次：平均一致度（两两 ROUGE-L）**{agree:.2f}** —— {verdict}。",
        "msg_rep_st_row": "{agree:.2f}，{n} 个不同回答：{prompt}",
        "msg_rep_fg_title": "## 遗忘", "msg_rep_fg_skipped": "已跳过：{why}。",
        "msg_rep_fg_text": "在训练数据之外的 {n} 个通用问题（中英文）上，以基座模型自己的贪心回答为准：平均 KL(基座 ‖ 微调) "
                           "**{kl:.3f}** nats/token，这些回答在基座下的困惑度为 {pb:.2f}，在微调模型下为 {pt:.2f}。",
        "msg_rep_fg_do": "怎么做：{advice}。",
        "msg_rep_ex_title": "## 示例", "msg_rep_ex_prompt": "**问题：** {text}", "msg_rep_ex_ref": "参考答案：{text}",
        "msg_rep_ex_base": "基座：{text}", "msg_rep_ex_tuned": "微调：{text}",
        "msg_rep_tm_title": "## 模板检查", "msg_rep_yes": "是", "msg_rep_no": "否",
        "msg_rep_tm_prompt": "对话时的提示与训练格式逐字节相同：{ok}", "msg_rep_tm_tokens": "token 相同：{ok}",
        "msg_rep_tm_end": "训练时每个回答以 `{end}` 结尾；生成在 {stops} 处停止：{ok}",
        "msg_rep_tm_ended": "在轮次结束 token 处结束的贪心回答：{n} / {total}（其余达到 max_new_tokens）",
        "msg_rep_footer": "_用时 {s:.0f} 秒；峰值内存 {rss:.2f} GB，模型 {gb:.2f} GB。_",
        "msg_ov_learned": "学到了数据：验证损失低于基座；回答没有比基座更接近参考答案",
        "msg_ov_learned_closer": "学到了数据：验证损失低于基座；回答比基座更接近参考答案",
        "msg_ov_not_learned": "没有学到数据：验证损失不低于基座；回答没有比基座更接近参考答案",
        "msg_ov_not_learned_closer": "没有学到数据：验证损失不低于基座；不过回答比基座更接近参考答案",
        "msg_ov_no_base": "验证损失 {loss:.3f}；没有可比较的基座模型",
        "msg_st_stable": "稳定：这个温度下的回答大意相同",
        "msg_st_varied": "多变：这个温度下的回答差别很大；想要可预期的回答请调低温度",
        "msg_fg_little": "微调模型回答通用问题几乎与基座模型一样：遗忘很少", "msg_fg_little_do": "无需处理",
        "msg_fg_some": "微调模型在通用问题上与基座模型有一定偏离",
        "msg_fg_some_do": "如果通用回答重要，在训练集中混入 10–20% 的通用对话数据（`danlu data clean --mix FILE --mix-ratio 0.15`）",
        "msg_fg_some_do_mixed": "这次训练已混入 {pct:g}% 的通用对话；如果通用回答重要，降低学习率或减少训练轮数（对数据也会学得少一点）",
        "msg_fg_much": "微调模型在通用问题上与基座模型偏离很大：可能遗忘了通用能力",
        "msg_fg_much_do_mixed": "这次训练已混入 {pct:g}% 的通用对话，只挡住了一部分偏离：降低学习率或减少训练轮数",
        "msg_fg_much_do": "混入 10–20% 的通用对话数据（`danlu data clean --mix FILE --mix-ratio 0.15`），降低学习率或减少训练轮数",
        "msg_fg_no_base": "没有可比较的基座模型", "msg_fg_off": "已关闭（--no-probe）",
        "msg_tg_4bit": "（4 位基座，与训练时相同）", "msg_tg_checkpoint": "{base} 上的 {name}{four}",
        "msg_tg_adapter": "{base} 上的微调适配器{four}",
        "log_parameters": "可训练参数 {trainable} / 共 {total}；训练 {train} 条 / 验证 {eval} 条；{geometry}",
        "log_early_stopping": "提前停止：验证损失已连续 {evals} 次评估未低于 {best}",
        "log_replay": "混入 {n} 条通用对话（{pct}%）：基座模型自己对内置提示（{languages}）的回答",
        "log_best_restored": "最终模型取第 {step} 步的权重：验证损失最低（{loss}；最后一步为 {last}）",
        "log_diagnosis": "诊断：{verdict} —— 按 n 打开下一步计划（或 `danlu plan --from {run}`）",
        "verdict_clean": "正常", "verdict_under_fit": "欠拟合", "verdict_over_fit": "过拟合",
        "verdict_diverged": "发散", "verdict_unknown": "未知",
        "log_damaged_checkpoint": "检查点 {name} 已损坏，改用前一个",
        # the engine's errors (DanluError with a Msg: what, and how to fix it) — tui.strings.error_text
        "error_line": "{where}：{what}", "error_fix": "{text} —— {fix}",
        "msg_err_adapter_full": "适配器 {adapter} 需要 lora 或 qlora 方法，不能用于全参数微调",
        "msg_fix_adapter_full": "设为 method: lora（基座模型保持冻结，只训练虚拟 token）",
        "msg_want_min": "不小于 {low} 的数", "msg_want_max": "不超过 {high:,} 的数",
        "msg_want_seed": "介于 0 和 {high} 之间的整数（numpy 和 torch 接受的种子）",
        "msg_want_fraction": "不小于 0 且小于 1 的比例（例如 {example}）", "msg_want_min_eg": "不小于 {low} 的数（例如 {example}）",
        "msg_want_clip": "不小于 0 的数（0 表示不裁剪，例如 1.0）",
        "msg_err_max_steps": "max_steps 必须是 -1（按轮数）或不小于 1 的整数，现在是 {got}",
        "msg_fix_max_steps": "设为 max_steps: -1，或优化器步数",
        "msg_err_epochs": "epochs 必须大于 0，现在是 {got}",
        "msg_fix_epochs": "设为 epochs: 1（或 0.5 这样的小数），或者设定 max_steps",
        "msg_err_lr": "学习率 lr 必须在 0 和 1 之间，现在是 {got}", "msg_fix_example": "例如 {name}: {example}",
        "msg_err_patience": "early_stopping_patience 需要训练中做评估",
        "msg_fix_patience": "设置 eval_steps（例如 50），或 early_stopping_patience: 0",
        "msg_err_no_train_file": "没有训练数据", "msg_fix_train_file": "把 train_file 设为准备好的 JSONL 文件",
        "msg_err_not_bool": "{name} 必须是 true 或 false，现在是 {got}", "msg_fix_bool": "写成 {name}: true 或 false",
        "msg_err_not_number": "{name} 必须是数字，现在是 {got}", "msg_fix_number": "写成普通数字，例如 {name}: {example}",
        "msg_err_not_whole": "{name} 必须是整数，现在是 {got}",
        "msg_err_not_text": "{name} 必须是文本，现在是 {got}", "msg_fix_text": "写成 {name}: \"...\"（加引号）",
        "msg_err_unknown_choice": "未知的「{name}」：{got}", "msg_fix_one_of": "可选：{allowed}",
        "msg_thing_task": "任务预设", "msg_thing_demo_model": "演示模型",
        "msg_err_range": "{name} 应为{want}，现在是 {got}", "msg_fix_set": "把 {name} 设为{want}",
        "msg_err_unknown_setting": "未知的设置 {name!r}", "msg_fix_did_you_mean": "是不是想写 {close}？见 `danlu train --help`",
        "msg_fix_train_help": "见 `danlu train --help`",
        "msg_err_model_file": "这是一个文件，不是模型文件夹", "msg_fix_import_gguf": "先用 `danlu model import {path}` 导入",
        "msg_fix_model_folder": "请给出 save_pretrained 保存的文件夹（含 config.json）、Hugging Face id 或 demo:smollm2",
        "msg_err_model_no_config": "这个文件夹不是模型（里面没有 config.json）",
        "msg_err_model_not_found": "找不到模型：{ref!r}",
        "msg_err_model_path_missing": "没有这个模型文件夹或文件：{ref}",
        "msg_fix_model_kinds": "请给出模型文件夹（含 config.json）、.gguf 文件、Hugging Face id（如 Qwen/Qwen2.5-0.5B-Instruct）或 demo:smollm2",
        "msg_err_no_config_offline": "离线时不知道模型 {ref!r} 的配置",
        "msg_fix_no_config_offline": "请给出模型文件夹（含 config.json）、.gguf 文件、demo:smollm2 或某个预设（`danlu plan --list-models`），或先下载模型",
        "msg_fix_model_ref": "请给出本地模型文件夹、Hugging Face id（如 Qwen/Qwen2.5-0.5B-Instruct）或 demo:smollm2",
        "msg_err_model_offline": "模型 {ref!r} 不在本地 Hugging Face 缓存里，而且连不上 Hub",
        "msg_fix_model_offline": "连上网络（或把 HF_ENDPOINT 设为镜像），用 `hf download` 下载，或给出本地模型文件夹或 "
                                 "demo:smollm2",
        "msg_err_data_not_found": "找不到数据文件：{path}",
        "msg_fix_data_path": "检查路径（示例见 sample_data/；Hugging Face id 形如 owner/name）",
        "msg_err_data_format": "认不出数据集格式（列：{columns}）", "msg_no_columns": "无——没有 JSON 对象",
        "msg_fix_data_format": "请用 Alpaca（instruction/input/output）、ShareGPT（conversations）、messages、"
                               "prompt/completion，或用 --mapping instruction=列名,output=列名 指定列",
        "msg_err_no_usable": "{records} 条记录里没有可用的对话（{problems} 个问题；第一个：{first}）",
        "msg_fix_no_usable": "对文件运行 `danlu data inspect` 查看全部问题{mapping}",
        "msgpart_fix_no_usable_mapping": "，或用 --mapping 指定列",
        "msg_err_no_records": "输入里没有可读的记录",
        "msg_err_no_records_bad": "输入里没有可读的记录（{n} 行损坏；第一个：{first}）",
        "msg_fix_no_records": "每行一个 JSON 对象（JSONL）、一个 JSON 数组，或带表头行的 CSV",
        "msg_err_plain_text": "这些记录是纯文本（'text' 字段）：没有可用来训练对话模型的用户/助手轮次",
        "msg_fix_plain_text_cols": "提供问题和回答两列，并用 --mapping instruction=列名,output=列名 指定",
        "msg_err_still_training": "运行 {run} 还在训练", "msg_fix_from_checkpoint": "用 --from-checkpoint {n} 导出已保存的检查点",
        "msg_fix_wait_export": "等它保存检查点（danlu stop --checkpoint 可以请求保存）或训练结束",
        "msg_fix_export_after": "训练结束后再导出（danlu attach 可查看），或恢复训练",
        "msg_err_export_file": "导出目标是一个文件", "msg_fix_out_folder": "为 --out 选一个文件夹",
        "msg_err_export_exists": "导出文件夹已存在且不为空",
        "msg_fix_export_exists": "换一个 --out，或加 --overwrite（新导出完成前旧的会保留）",
        "msg_err_no_adapter_full": "全参数微调没有适配器可导出", "msg_fix_to_merged": "导出合并后的模型：--to merged",
        "msg_err_virtual_merge": "{kind} 适配器不能合并进权重（它的虚拟 token 是输入，不是权重的改动）",
        "msg_fix_to_adapter": "导出适配器：--to adapter",
        "msg_err_no_quantiser": "{types}（K 量化）由 llama.cpp 的量化器生成，这里没有它",
        "msg_fix_no_quantiser": "安装 llama-cpp-python（`pip install 'danlu[llamacpp]'`），传 --llama-quantize PATH"
                                "（或设置 DANLU_LLAMA_QUANTIZE），或选 f16、bf16、q8_0、q4_0、q4_1",
        "msg_err_export_disk": "磁盘空间不足：导出约需 {need:.1f} GB（{listed}），可用 {free:.1f} GB",
        "msg_fix_export_disk": "腾出空间，少选几种导出或更小的 GGUF 类型，或换一个 --out",
        "msg_err_no_checkpoint": "运行 {run} 没有 {at}", "msg_fix_checkpoints": "可选：{have}",
        "msg_fix_none_saved": "还没有保存任何检查点",
        "msg_err_no_final": "运行 {run} 还没有最终模型（状态：{state}）",
        "msg_fix_newest_checkpoint": "用最新的检查点对话：danlu chat {ref}",
        "msg_fix_wait_checkpoint": "等它保存检查点或训练结束",
        "msg_err_not_a_run": "{ref!r} 不是一个运行，所以没有检查点", "msg_fix_run_ref": "请给出运行 id 或运行目录",
        "msg_fix_set_cmd": "例如 /set {name} {example}",
        "msg_err_between": "{name} 应在 {lo:g} 和 {hi:g} 之间，现在是 {got}",
        "msg_err_no_adapter": "这个模型没有可以关掉的适配器", "msg_fix_load_base": "直接加载基座模型来对比",
        "msg_err_nothing_to_retry": "还没有可以重试的内容", "msg_fix_send_first": "先发一条消息",
        "msg_err_binary": "这是二进制文件，不是文本（含有 NUL 字节）",
        "msg_fix_binary": "请给出 .json/.jsonl/.csv/.tsv/.parquet 数据集，或把它另存为 UTF-8 文本",
        "msg_err_not_text_file": "这不是文本文件（既不是 UTF-8，也不是 GB18030/GBK）",
        "msg_fix_utf8_or_parquet": "把它另存为 UTF-8 文本（或给出 .parquet 文件）",
        "msg_err_bad_bytes": "文件里有无效的 {encoding} 字节", "msg_fix_utf8": "把文件另存为 UTF-8 文本",
        "msg_err_empty_file": "文件是空的", "msg_err_blank_file": "文件是空的（只有空白）",
        "msg_fix_one_record": "请给出至少有一条记录的文件",
        "msg_err_not_json_doc": "文件既不是 JSON 数组，也不是 JSON 对象",
        "msg_fix_json_array": "把它改成记录组成的 JSON 数组，或每行一个 JSON 对象、存为 .jsonl",
        "msg_err_bad_json": "不是有效的 JSON（{detail}）", "msg_fix_bad_json": "修正那里的 JSON，或每行一条记录、存为 .jsonl",
        "msg_err_dataset_info": "这是 LLaMA-Factory 的 dataset_info.json，不是数据集",
        "msg_fix_dataset_info": "用 {file}#NAME 读取名为 NAME 的条目（{names}）",
        "msg_err_csv_empty": "CSV 文件是空的", "msg_fix_csv_rows": "加上表头行和至少一行数据",
        "msg_err_csv_header": "CSV 没有表头行", "msg_fix_csv_header": "在第一行加上表头，例如 instruction,output",
        "msg_err_file_type": "未知的文件类型（不是 JSON、JSONL、CSV、TSV 或 Parquet）",
        "msg_fix_file_type": "请给出 .json/.jsonl/.csv/.tsv/.parquet 文件",
        "msg_err_empty_folder": "这个文件夹里没有数据文件",
        "msg_fix_empty_folder": "在里面放 .json/.jsonl/.csv/.tsv/.parquet 文件，或直接给出一个文件",
        "msg_err_data_offline": "{repo!r} 不是本地文件，而且连不上 Hugging Face Hub（离线）",
        "msg_fix_data_offline": "在有网络的地方下载（datasets.load_dataset(...).save_to_disk(DIR)）后给出 DIR，"
                                "或给出本地 .json/.jsonl/.csv/.parquet 文件",
        # engine texts (engine.core.texts.Msg codes): the planner's reasons and remedies, the probe's warnings
        "msg_model_size": "{model}：{m:,.1f} M 参数，词表 {vocab:,}",
        "msg_budget": "内存预算：{device}，保留 {pct}% 余量",
        "msg_dev_given": "GPU（给定 {gb:g} GB）", "msg_dev_gpu": "{name}（{total:g} GB 中空闲 {free:g} GB）",
        "msg_dev_host": "{host}（可用内存 {ram:g} GB，按其中 {pct}% 规划）",
        "msg_pick": "{method}：{reason}", "msg_pick_over": "{method}：{reason}（{worse} 放不下）",
        "msg_batch": "微批 {mb} × 累积 {ga} = 有效批量 {eff}",
        "msg_precision": "精度 {precision}", "msg_precision_fp16": "精度 {precision}（此 GPU 不支持 bf16）",
        "msg_fits": "微批 {mb}{gc}{opt8} 时放得下：{gb:g} GB", "msgpart_fits_gc": "、开梯度检查点",
        "msgpart_fits_opt8": "、用 8 位优化器",
        "msg_no_fit": "放不下：微批 {mb} 需要 {need:.1f} GB，可用 {usable:.1f} GB",
        # the plan's decisions (engine/plan/value.py)
        "msg_summary": "{method}{shape} · {batch} · 序列长度 {seq} · 学习率 {lr:g} · {steps} · {precision} · "
                       "峰值 {peak:.2f} GB / {budget:.2f} GB",
        "msg_sum_lora": " 秩 {r}（alpha {alpha}）", "msg_sum_steps": "{epochs:g} 轮，{steps} 步", "msg_sum_steps_unknown": "{epochs:g} 轮，步数由数据决定",
        "msg_geo_packed": "{pack} token 的打包行 × 累积 {ga} ≈ 每步 {samples} 条对话（{tokens:,} token）",
        "msg_geo_packed_unknown": "{pack} token 的打包行，每步约 {samples} 条对话",
        "msg_geo_batch": "微批 {mb} × 累积 {ga} = 每步 {samples} 条对话",
        "msg_cap_demo": "{model} 为快速运行设定的上限（presets/demo.yaml）",
        "msg_cap_default": "danlu 的上限（注意力开销随长度增长）", "msg_cap_context": "模型的上下文长度（{n} token）",
        "msg_seq_given": "max_seq_len {n}：你的设置",
        "msg_seq_data": "max_seq_len {n}：训练集 {count} {many}的 p99 为 {p} token，向上取整到 {step} 的倍数",
        "msg_seq_data_capped": "max_seq_len {n}：训练集 {count} {many}的 p99 为 {p} token，受限于 {why}",
        "msg_seq_default": "max_seq_len {n}：尚无 token 长度，因此取 {why}",
        "msg_seq_cut": "{reason}；{count} 条中有 {cut} 条（{pct:.0f}%）更长，将被截断",
        "msg_lr_demo": "学习率 {lr:g}：{model} 的 {method} 学习率（presets/demo.yaml）",
        "msg_lr_task": "学习率 {lr:g}：「{task}」预设的 {kind} 学习率", "msg_kind_full": "全参数微调",
        "msg_kind_adapter": "LoRA 适配器", "msg_lr_given": "学习率 {lr:g}：你的设置",
        "msg_method_demo": "方法 {method}：{why}", "msg_method_given": "方法 {method}：你的选择",
        "msg_demo_method": "离线演示的选择：几 MB 的适配器，导出与合并只需几秒（换方法：--method，或方案页的“方法”）",
        "msg_batch_you": "你的设置",
        "msg_batch_target": "能放下的最大微批，上限为每步 {target} {one}（{src}），不足部分靠累积",
        "msg_target_you": "--target-batch",
        "msg_eval_none": "没有留出数据，因此不做评估（提供 --eval-data，或在向导的数据步骤留出一部分）",
        "msg_eval_every_n": "每 {k} 步在留出的 {n} {many}上评估", "msg_eval_ends_n": "训练前后在留出的 {n} {many}上评估",
        "msg_data_train": "{n} 条训练对话，截断后共 {tokens:,} token",
        "msg_sum_max_steps": "{steps} 步（max_steps）",
        "msg_batch_packed": "微批 {mb} × 累积 {ga}（{why}），实际以 {pack} token 的打包行 × 累积 {rga} 运行：每步约 {samples} "
                            "条对话、{tokens:,} token",
        "msg_batch_plain": "微批 {mb} × 累积 {ga} = 每步 {samples} {one}（{why}）",
        "msg_schedule": "预热 {pct:g}% 后按 {sched} 调度（{src}）",
        "msg_steps_max": "{steps} 个优化步：max_steps，你的设置",
        "msg_steps_epochs": "{epochs:g} 轮（{src}）；步数由数据决定",
        "msg_steps_data": "{epochs:g} 轮（{src}），{count} {many}：{steps} 个优化步",
        "msg_adapter": "{adapter} 秩 {r}、alpha {alpha}、dropout {d:g}，作用于 {targets}（{src}）",
        "msg_memory": "梯度检查点 {gc}，优化器 {opt}：预测峰值 {peak:.2f} GB / {budget:.2f} GB",
        "msg_on": "开", "msg_off": "关",
        "msg_eval_every": "每 {n} 步评估一次", "msg_eval_ends": "训练前后在留出集上评估",
        "msg_time": "训练约需 {t}（{how}）", "msg_speed_gpu": "按 GPU 16 位峰值算力的 {pct:.0f}% 估算",
        "msg_speed_cpu": "按 danlu 在 {cores} 核 CPU 上实测的速度估算",
        "msg_src_demo": "{model} 的设置", "msg_src_task": "「{task}」预设", "msg_src_you": "你的设置",
        "msg_mix_replay": "混入 {pct:g}% 通用对话以防遗忘：约 {n} 条基座模型自己对内置提示（数据所用语言）的回答，训练开始时生成"
                          "（无需下载；{src}）",
        "msg_mix_none_replay": "不混入通用数据（replay=0.15 会混入基座模型自己对通用提示的回答，以防遗忘）",
        "msg_want_replay": "0 到 0.5 之间的比例（例如 {example}）",
        "msg_took_replay": "混入 {v:.0%} 通用对话", "msg_src_recipe": "配方", "msg_task_none_recipe": "「{task}」预设在此方案中不设任何值：由配方根据数据决定", "msg_src_after": "上一次训练的诊断",
        "msg_lr_after": "学习率 {lr:g}：上一次训练的诊断",
        "msg_steps_recipe": "{why}：共 {steps} 个优化步",
        "msg_rc_batch": "每步 {b} {one}：{n} {many} ÷ 每轮约 {k} 步，取 2 的幂（1 到 {most}）",
        "msg_rc_batch_budget": "每步 {b} {one}：时间预算约够在 {n} {many}上训练 {e:g} 轮，较小的批量可保持约 {target} 步",
        "msg_rc_batch_one": "每步 1 {one}：时间预算约够在 {n} {many}上训练 {e:g} 轮，每条大约只见一次时，每条一步的更新次数最多",
        "msg_rc_epochs": "{e} 轮：每轮 {spe} 步，总共约 {target} 步中至少 {least} 步（1 到 {most} 轮）",
        "msg_rc_epochs_budget": "{e:g} 轮：{full} 轮约需 {t}，超过本演示的 {budget} 秒",
        "msg_rc_eval": "每 {k} 步评估一次（共 {n} 次，用留出的 {held} {many}）；连续 {p} 次评估没有更低的验证损失就停止，"
                       "并保留最佳一步",
        "msg_rc_eval_ends": "只在训练前后评估：{steps} 步太少，无法提前停止",
        "msg_rc_eval_none": "没有留出数据：训练中不评估，也不提前停止",
        "msg_rc_lr_full": "学习率 {lr:g}：全参数微调在隐藏维度 {ref} 时取 {base:g}，本模型更窄，乘以 {ref}/{h}（Adam 的最佳学习率随宽度按 "
                          "1/宽度 下降）",
        "msg_rc_lr_lora": "学习率 {lr:g}：「{task}」预设的适配器学习率（指南建议 1e-4 到 2e-4）",
        "msg_rc_lr_lora_width": "学习率 {lr:g}：「{task}」预设在隐藏维度 {ref} 时的适配器学习率 {base:g}，本模型更窄，乘以 "
                                "{ref}/{h}（Adam 的最佳学习率随宽度按 1/宽度 下降）",
        "msg_rc_method_lora": "用适配器而不是全参数微调：{tokens:,} 个训练 token 装得进它的 {params:,} 个参数，这时 LoRA "
                              "学得一样好、遗忘更少",
        "msg_rc_dropout": "适配器 dropout 为 0：在留出的 {n} {many}上的提前停止已经防止过拟合，而 dropout 会拖慢每一步",
        "msg_rc_method_full": "放得下就全参数微调：{tokens:,} 个训练 token，超过适配器 {params:,} 个参数的容量",
        "msg_rc_warmup": "预热 {pct:g}% 后余弦衰减（{steps} 步中的 {n} 步：指南建议 3% 到 10%，目标约 {least} 步）",
        "msg_dx_clean": "正常：验证损失稳定在最佳值附近",
        "msg_dx_clean_train": "就训练损失来看正常",
        "msg_dx_diverged": "发散：训练变得不稳定",
        "msg_dx_ev_clean": "验证损失 {first} → 最佳 {best:.4f}（第 {step} 步），最后 {last:.4f}",
        "msg_dx_ev_nan": "第 {step} 步：损失 {loss}，梯度范数 {gn}",
        "msg_dx_ev_no_eval": "训练中没有验证评估，看不出是否过拟合（请留出一部分数据）",
        "msg_dx_ev_overfit": "验证损失在第 {step} 步最低（{best:.4f}），到第 {at} 步升至 {last:.4f}（+{pct:.1f}%），而训练损失仍在下降",
        "msg_dx_ev_data": "数据：训练文件第 {lines} 行在首次训练时损失远高于其他样本（{worst:.2f}，中位数 {med:.2f}）：请检查是否答案错误、"
                          "语言不同或格式损坏",
        "msg_dx_ev_restored": "提前停止已把第 {step} 步的权重作为最终模型",
        "msg_dx_ev_rose": "训练损失从 {a:.3f}（前 {k} 步）升到 {b:.3f}（后 {k} 步）",
        "msg_dx_ev_spike": "第 {step} 步：损失 {loss:.3f}，是前十步中位数 {med:.3f} 的 {x:.1f} 倍，之后十步的中位数仍为 {after:.3f}",
        "msg_dx_ev_underfit": "结束时验证损失仍在下降：最后一个评估间隔内 {prev:.4f} → {last:.4f}（−{pct:.1f}%）",
        "msg_dx_ev_underfit_train": "结束时训练损失仍在下降：最后八分之一的步数内 {prev:.4f} → {last:.4f}（−{pct:.1f}%）",
        "msg_dx_next_diverged": "学习率降为三分之一，预热 10%",
        "msg_dx_next_more_epochs": "{e:g} 轮，而不是 {was:g} 轮",
        "msg_dx_next_more_lr": "学习率加倍：{lr:g}",
        "msg_dx_next_over_fit": "只训练到最佳一步：本次计划步数的 {share:.0%}",
        "msg_dx_next_same": "同样的计划",
        "msg_dx_over_fit": "第 {step} 步之后过拟合：最佳模型是第 {step} 步的",
        "msg_dx_under_fit": "欠拟合：训练结束时模型仍在学习",
        "msg_dx_unknown": "没有记录训练步：无从诊断",
        "msg_src_default": "danlu 的默认值", "msg_task_name": "{name}",
        "msg_task_none": "「{task}」预设在此方案中不设任何值：使用 {model} 自己的设置（presets/demo.yaml）",
        "msg_task_took": "「{task}」预设在此设定 {n} 项：{values}", "msg_join": "{parts}", "list_sep": "、",
        "msg_took_lr": "学习率 {v:g}", "msg_took_lr_scaled": "学习率 {v:g}（配方按本模型宽度放大为 {lr:g}）", "msg_took_epochs": "{v:g} 轮", "msg_took_warmup_ratio": "预热 {v:.0%}",
        "msg_took_lora_r": "秩 {v}", "msg_took_lora_alpha": "alpha {v}", "msg_took_lora_dropout": "dropout {v:g}",
        "msg_largest_term": "最大的一项是 {term}（{gb:.1f} GB）",
        "msg_shorter_seq": "缩短序列（--seq-len {n}）", "msg_use_qlora": "改用 QLoRA（--method qlora）",
        "msg_use_8bit": "改用 8 位优化器（--optimizer paged_adamw_8bit）",
        "msg_use_gc": "开启梯度检查点（--grad-checkpointing on）", "msg_smaller_model": "换一个更小的模型",
        "msg_mps": "Apple 芯片（MPS）：没有 bitsandbytes 4 位量化；danlu 在统一内存的 60% 内保守地规划 LoRA",
        "msg_rocm": "AMD GPU（ROCm）：NVML 无法读取；请给 `danlu plan` 传 --gpu-mem GB；bitsandbytes 4 位量化可能不可用",
        "msg_cpu_plan": "{status}：danlu 按 CPU 规划（较慢；演示模型足够）",
        "msg_no_pynvml": "未安装 nvidia-ml-py（pip install nvidia-ml-py）",
        "msg_no_driver": "没有找到 NVIDIA 驱动（看不到 NVIDIA GPU）",
        "msg_driver_mismatch": "NVIDIA 驱动与其库版本不一致（更新驱动后没有重启？）：请重启",
        "msg_no_gpu": "NVIDIA 驱动看不到 GPU", "msg_no_gpu_visible": "NVIDIA 驱动看不到 CUDA_VISIBLE_DEVICES 允许的 GPU",
        "msg_cpu_torch": "torch {version} 是仅支持 CPU 的版本，但本机有 NVIDIA GPU：训练会在 CPU 上运行。修复：{command}",
        "msg_old_driver": "驱动（{driver}）支持 CUDA {cuda}，但 torch {version} 需要 CUDA {needs}：请升级 NVIDIA 驱动，"
                          "或安装适配 CUDA {cuda} 的 torch",
        "msg_shared_gpu": "GPU {index} 被共用：其他 {n} 个进程（{who}）占用 {held:.1f} GB；danlu 按空闲的 {free:.1f} GB 规划",
        "msg_ev_detected": "前 {n} 条记录中有 {votes} 条符合：{what}",
        "msg_ev_detected_others": "前 {n} 条记录中有 {votes} 条符合：{what}；{others}",
        "msg_ev_alpaca": "instruction/output 字段（Alpaca）", "msg_ev_prompt_completion": "prompt/completion 字段",
        "msg_ev_text": "单个 text 字段（纯文本，没有对话轮次）",
        "msg_ev_messages": "'{column}' 字段为 role/content 轮次列表（OpenAI/TRL messages）",
        "msg_ev_sharegpt": "'{column}' 字段为 {keys} 轮次列表（ShareGPT）",
        "msg_ev_sharegpt_variant": "'{column}' 字段为 {keys} 轮次列表（ShareGPT 的 role/content 变体）",
        "msg_blank_line": "空行", "msg_fix_blank_line": "无需处理（空行会被忽略）",
        "msg_record_too_long": "该行 {mb:.0f} MB，超过单条记录上限 {limit} MB；未读取",
        "msg_fix_record_too_long": "每行一条对话：把它拆成正常大小的记录",
        "msg_broken_json_line": "损坏的 JSON 行（{detail}）",
        "msg_fix_broken_json_line": "修正这一行的 JSON（每行一个对象），或删除它",
        "msg_bad_bytes": "这一行第 {byte} 个字节不是有效的 {encoding}",
        "msg_fix_bad_bytes": "把文件另存为 UTF-8（或用 --on-error fix 替换坏字节）",
        "msg_array_cut": "JSON 数组被截断（没有结尾的 ']'）",
        "msg_fix_array_cut": "文件看起来不完整：请重新导出；这一行之前的记录已读取",
        "msg_after_array": "JSON 数组结束后还有多余的文本", "msg_fix_after_array": "删除结尾 ']' 之后的所有内容",
        "msg_broken_record": "第 {n} 条记录的 JSON 损坏（{detail}）",
        "msg_fix_broken_record": "修正那里的 JSON（之前的记录已读取；之后的内容无法继续读取）",
        "msg_too_deep": "第 {n} 条记录嵌套太深，无法读取", "msg_fix_too_deep": "把记录展平",
        "msg_no_comma": "第 {n} 条记录后应为 ',' 或 ']'，实际是 {found}",
        "msg_fix_no_comma": "在记录之间补上缺少的逗号（文件其余部分未读取）",
        "msg_csv_row": "这一 CSV 行无法读取（{detail}）", "msg_fix_csv_row": "检查这一行的引号",
        "msg_demo_languages": "{note}（保留 {kept} 条；未用：{left}）",
        "msg_lang_count": "{n} 条{lang}",
        "msg_cmp_adapter": "基座 = 同一个模型关闭适配器（内存中没有第二份）",
        "msg_cmp_loaded": "基座 = 在全参微调模型旁加载的基座模型",
        "msg_cmp_no_base": "这不是微调训练：没有可对比的基座模型",
        "msg_cmp_no_room": "全参微调：在旁边加载基座模型约需 {need:.1f} GB，可用 {free:.1f} GB",
        "msg_cmp_will_load": "全参微调：将在旁边加载基座模型（{need:.1f} GB）",
        "term_weights": "权重", "term_quant_constants": "量化常数", "term_adapters": "适配器",
        "term_autocast_copies": "混合精度副本", "term_optimizer": "优化器", "term_optimizer_paged": "优化器（分页）",
        "term_gradients": "梯度", "term_activations": "激活", "term_logits": "logits", "term_optimizer_step": "优化器步",
        "term_eval": "评估", "term_dequant_workspace": "反量化缓冲", "term_runtime": "运行时", "term_allocator": "分配器", "term_comm_buckets": "通信桶", "term_gathered": "聚合的层", "term_cuda_context": "CUDA 上下文",
        "msg_repaired": "损坏的行，已修复：{how}", "msg_fix_repaired": "在文件中修正这一行",
        "msg_blank_row": "空行", "msg_fix_blank_row": "无需处理（空行会被忽略）",
        "msg_csv_cells": "这一行有 {n} 个单元格，表头有 {header} 个",
        "msg_csv_cells_more": "这一行有 {n} 个单元格，表头有 {header} 个（单元格里有未加引号的分隔符或换行？）",
        "msg_fix_csv_cells": "给含分隔符或换行的单元格加上引号",
        "msg_is_bool": "是 {value}，应为文本", "msg_fix_is_bool": "写成带引号的文本",
        "msg_is_strings": "是 {n} 个字符串组成的列表，应为文本", "msg_fix_is_strings": "把这些片段合并成一个字符串",
        "msg_is_parts": "是文本片段列表，应为文本", "msg_fix_is_parts": "把文本片段合并成一个字符串",
        "msg_is_other": "是 {kind}，应为文本", "msg_fix_is_other": "把内容写成字符串",
        "msg_no_turns": "缺失，或不是轮次列表", "msg_fix_no_turns": "给每条记录加上 '{column}' 轮次列表",
        "msg_turn_not_object": "每个轮次必须是含 {role_tag} 和 {content_tag} 的对象，实际是 {kind}",
        "msg_fix_turn_not_object": "把轮次写成 {shape}",
        "msg_unknown_role": "未知的角色 {role}",
        "msg_fix_unknown_role": "使用 human/gpt/system/observation/function_call（ShareGPT）或 user/assistant/system/tool（messages）",
        "msg_call_not_json": "function_call 的值不是 JSON", "msg_fix_call_not_json": "把调用写成 JSON：{shape}",
        "msg_history_not_list": "history 必须是 [问题, 回答] 对的列表", "msg_fix_history_not_list": "写成 {shape}",
        "msg_history_not_pair": "必须是 [问题, 回答] 对", "msg_fix_history_not_pair": "把每个 history 项写成 [问题, 回答]",
        "msg_not_object": "这条记录是 JSON {kind}，不是对象", "msg_fix_not_object": "把每条记录写成 JSON 对象，例如 {shape}",
        "msg_plain_text": "纯文本没有用户/助手轮次，无法训练对话模型",
        "msg_fix_plain_text": "用 --mapping instruction=列,output=列 指定问题列和回答列",
        "msg_system_not_first": "system 消息只能放在最前面", "msg_fix_system_not_first": "把系统提示词移到开头",
        "msg_no_assistant": "没有助手回答", "msg_fix_no_assistant": "补上回答轮次（gpt/assistant），或删除这条记录",
        "msg_no_user": "没有用户轮次", "msg_fix_no_user": "先补上提问轮次",
        "msg_starts_with": "对话以 {role} 开头，而不是用户",
        "msg_fix_starts_with": "把用户的问题放在最前（修复会删掉它之前的轮次）",
        "msg_two_in_a_row": "连续两个 {role} 轮次", "msg_fix_two_in_a_row": "让用户和助手交替（修复会合并这两个轮次）",
        "msg_orphan_tool": "工具结果前面没有工具调用", "msg_fix_orphan_tool": "把它放在助手的工具调用之后",
        "msg_ends_with": "对话以 {role} 结尾，而不是助手的回答",
        "msg_fix_ends_with": "补上最后的回答（修复会删掉结尾没有回答的轮次）",
        "msg_empty_answer": "助手回答为空", "msg_empty_answer_ws": "助手回答为空（只有空白）",
        "msg_fix_empty_answer": "写上回答，或删除这条记录",
        "msg_empty_turn": "用户轮次为空", "msg_empty_turn_ws": "用户轮次为空（只有空白）",
        "msg_fix_empty_turn": "写上问题，或删除这条记录",
        "msg_is_null": "是 null，应为文本", "msg_fix_is_null": "写上文本，或删除这条记录",
        "msg_is_number": "是数字（{value}），应为文本", "msg_fix_is_number": "把数字写成带引号的文本",
        "msg_missing": "缺失", "msg_fix_missing": "给每条记录加上 {name} 字段",
        "msg_fix_or_on_error": "{fix}，或使用 --on-error fix",
        "msg_ev_given": "按给定的映射读取列：{mapping}",
        "msg_ev_proposed": "{evidence}；建议的映射 {flag} —— 用 --mapping '{flag}' 确认或修改",
        "wiz_ev_proposed": "{evidence}；建议的映射 {flag} —— 在下方检查后点“应用映射”",
        "fmt_alpaca (mapped columns)": "alpaca（列映射）", "fmt_sharegpt (mapped column)": "sharegpt（列映射）",
        "msg_ev_turns_column": "列 {column} 是 {keys} 轮次列表",
        "msg_ev_mapped_name": "按列名映射列 {columns}",
        "msg_ev_mapped_longest": "按内容映射列 {columns}（最长的文本列当作回答）",
        "msg_ev_mapped_two_longest": "按内容映射列 {columns}（最长的两个文本列）",
        "msg_exact_duplicate": "与第 {line} 行完全重复", "msg_fix_exact_duplicate": "danlu data clean 会删除它",
        "msg_near_duplicate": "与第 {line} 行近似重复（相似度 {sim:.2f}）",
        "msg_fix_near_duplicate": "danlu data clean 会删除它（调高 --near-dup-threshold 可保留更接近的变体）",
        "msg_overlong": "过长：{size:,} 个字符（上限 {limit:,}）",
        "msg_fix_overlong": "缩短或删除它（danlu data clean 会删除超过 --max-chars 的行）",
        "msg_mig": "GPU {index} 已由 MIG 划分为 {n} 个实例：danlu 按其中一个实例规划（空闲 {free:.1f} GB）",
        "state_pending": "等待中", "state_running": "运行中", "state_done": "已完成", "state_failed": "失败",
        "state_stopped": "已停止", "state_crashed": "已崩溃（进程不在）", "state_damaged": "已损坏（status.json 无法读取）",
        "chat_title": "对话 · {run}", "loading_model": "正在加载模型…（首次使用时加载 torch）",
        "model_ready_tuned": "微调模型回答 —— 回车发送，Esc 停止，Ctrl+B 基座模型，Ctrl+T 并排对比",
        "model_ready_base": "基座模型回答（关闭适配器）—— Ctrl+B 切回微调模型",
        "ready_split": "并排对比：每条消息先由微调、再由基座模型回答 —— Esc 停止，Ctrl+T 单栏",
        "btn_save_transcript": "追加",
        "generating": "生成中…（Esc 停止）", "stopped": "已停止",
        "still_training": "danlu：训练 {run} 仍在自己的进程中继续；`danlu attach` 可以跟随它，`danlu` 可以查看它。",
        "phase_starting": "正在启动训练进程", "phase_loading": "正在加载模型",
        "phase_replay": "基座模型回答通用问题（防遗忘）",
        "phase_eval0": "训练前评估", "phase_eval": "第 {step} 步评估",
        "phase_train": "训练中：第一步", "phase_final_eval": "最终评估",
        "phase_saving": "正在保存最终模型",
        "waiting_side": "（等{side}模型回答完再开始）",
        "busy_streaming": "还在回答：按 Esc 停止后再试",
        "pane_copied": "到目前为止的对话（回答来自微调模型）；基座模型从这里开始回答：",
        "copied_answer": "↳ 微调模型的回答（复制）：", "colon": "：",
        # the Plan screen's settings (engine.core.TrainConfig's field help, in Chinese)
        "cfg_help_max_seq_len": "分词后样本的最大长度；更长的样本会被截断。", "cfg_help_lr": "峰值学习率。",
        "cfg_help_epochs": "遍历训练数据的轮数。", "cfg_help_max_steps": "训练这么多个优化步后停止（-1：按轮数）。",
        "cfg_help_adapter": "lora/qlora 的适配器：lora、dora（权重分解）、rslora（秩稳定），或进阶的 prompt / prefix 微调"
                            "（学习虚拟 token；只能导出适配器，不能打包）。",
        "cfg_help_lora_r": "LoRA 的秩。", "cfg_help_lora_alpha": "LoRA 的缩放系数 alpha（缩放 = alpha / r）。",
        "cfg_help_lora_dropout": "LoRA 分支上的 dropout。",
        "cfg_help_lora_targets": "加适配器的模块：all-linear，或逗号分隔的列表，如 q_proj,v_proj。",
        "cfg_help_warmup_ratio": "学习率预热所占的步数比例。",
        "cfg_help_lr_scheduler": "预热之后的学习率调度（transformers 中的名字）。",
        "cfg_help_eval_steps": "每 N 个优化步评估一次（0：只在训练前后评估）。",
        "cfg_help_early_stopping_patience": "连续 N 次评估验证损失没有变好就停止（0：关闭；需要 eval_steps）。",
        "cfg_help_replay": "混入训练数据的通用对话比例，用来防止遗忘：训练开始时由基座模型用数据的语言回答内置问题生成"
                           "（0：不混入；指南建议 0.1–0.2）。",
        "cfg_help_save_steps": "每 N 个优化步保存一次检查点（0：自动，每次训练约 10 个、最多每 10 步一个；全参微调 4 个）。",
        "cfg_help_seed": "适配器初始化和数据顺序的随机种子。",
        "knob_temperature": "温度", "knob_help_temperature": "0 = 贪心解码（总选最可能的 token）；0.7 是常用的创作设置",
        "knob_top_p": "Top-p（核采样）", "knob_help_top_p": "只从累计概率达到 p 的最可能 token 中采样（1 = 关闭）",
        "knob_top_k": "Top-k", "knob_help_top_k": "只从最可能的 k 个 token 中采样（0 = 关闭）",
        "knob_repetition_penalty": "重复惩罚", "knob_help_repetition_penalty": "大于 1 时降低重复前文 token 的概率（1 = 关闭）",
        "knob_max_new_tokens": "最多新 token 数", "knob_help_max_new_tokens": "回答最长多少个 token",
        "knob_seed": "随机种子", "knob_help_seed": "固定采样的随机选择（none = 每次不同）",
        "sampling_model": "采样：模型推荐的设置。",
        "sampling_greedy": "采样：贪心解码（温度 0），与评估相同。",
        "sampling_danlu": "采样：danlu 默认值（模型未推荐；与 Modelfile 相同）。温度 0 = 贪心。",
        "system_prompt": "系统提示词", "system_placeholder": "可选", "max_tokens": "最多新 token",
        "chat_placeholder": "输入消息并回车（↑ 之前的消息）",
        "pane_tuned": "微调", "pane_base": "基座", "split_view": "并排对比",
        "save_transcript": "保存对话（JSONL）", "transcript_saved": "对话已追加到 {path}",
        "speed": "{side}：{tokens} 个 token，{tps} token/秒", "no_base": "没有可对比的基座模型",
        "key_split": "并排", "key_retry": "重试", "key_save_transcript": "保存", "key_report": "评估报告",
        "report_title": "评估报告 · {run}", "report_cached": "已保存的报告（eval.json）；Ctrl+R 重新评估。",
        "report_running": "评估中…（损失、贪心回答、稳定性、遗忘探测；CPU 上需几分钟）",
        "report_done": "✓ 报告已写入训练目录（eval.json、eval.md）。", "key_rerun_report": "重新评估",
        "report_after_training": "评估报告针对最终模型：请等待训练结束。",
        "key_next_plan": "下一步计划",
        "next_after_training": "下一步计划来自本次训练的诊断：请等待训练结束。",
        "next_planning": "正在读取诊断并规划下一次训练…",
        "next_plan_after": "接着 {run}：{summary}。下一步：{next}。下面的设置是那次训练的设置加上这个改动；沿用它的训练集和留出集。",
        "export_title": "导出 · {run}", "target_adapter": "LoRA 适配器（小；需要基座模型）",
        "target_merged": "合并模型（safetensors；可独立使用）",
        "target_gguf": "GGUF（llama.cpp / LM Studio，类型见下）",
        "export_checked": "写出的每个文件都会重新加载，并与微调模型的回答对比。",
        "target_ollama": "Ollama Modelfile（对话模板与停止符）",
        "target_hub": "推送到 Hugging Face Hub（HF_TOKEN 或 `hf auth login`）",
        "merged_dtype": "合并精度", "dtype_of_base": "基座模型的精度", "gguf_types": "GGUF 类型（大小）：",
        "hub_repo": "Hub 仓库", "via_llama_cpp": "经 llama.cpp", "needs_llama_cpp": "需要 llama.cpp",
        "destination": "目标目录：", "free_space": "该处可用 {gb} GB",
        "overwrite": "覆盖非空目录", "pick_target": "请至少选择一个导出目标。",
        "wiz_fix_export_exists": "换一个目标目录，或勾选“覆盖非空目录”（新导出完成前旧的会保留）",
        "exporting": "导出中…（加载模型、写入、重新加载验证）",
        "export_done": "✓ 已导出到 {path}", "verified": "已验证：重新加载的合并模型 logits 差异在 {diff} 以内",
        "no_adapter_full": "LoRA 适配器 —— 无：该训练为全参微调",
        "no_final_yet": "该训练还没有最终模型；训练完成后才能导出。",
        "help_common": _HELP_COMMON_ZH,
        "help_welcome": "欢迎页\n\n按 n（或在“新建微调”上回车）开始引导。表格列出训练目录中的训练：回车或 a 打开训练面板"
                        "（离开面板训练也会继续），c 与微调模型对话，e 导出。r 刷新。",
        "help_hardware": "硬件\n\ndanlu 找到的：GPU 及其可用显存和占用它的其他进程、驱动、torch 版本、内存和磁盘。"
                         "没有 GPU 时按 CPU 规划。有多张 GPU 时用 ↑/↓ 选择。Ctrl+N 继续，r 重新检测。",
        "help_model": "模型\n\n每个预设都显示规划器对本机的判断：放得下的方法（全参、LoRA 或 QLoRA）、微批大小和峰值显存。"
                      "demo:tiny 和 demo:small 离线构建。输入 Hugging Face id 或本地目录后回车检查。"
                      "开启 trust_remote_code 前会先询问。",
        "help_data": "数据\n\n选择数据文件（回车读取；Ctrl+O 使用自带示例）。danlu 识别格式并说明依据；识别不确定时，"
                     "请选择问题列和回答列后应用。预览套用模型的对话模板显示每条对话（绿色：参与训练的 token）。"
                     "“问题”列出每一条有问题的行及行号：↑/↓ 查看内容与修复方法，回车跳到预览中的该行。"
                     "勾选清洗规则（数字是各规则去掉的行数），对照 max_seq_len 查看 token 长度，设置验证集比例"
                     "和训练文件的格式（Ctrl+S 另存清洗后的副本）。Ctrl+N 继续。",
        "help_plan": "方案\n\n引擎针对你的模型、数据、任务和机器给出的方案：顶部一行就是将要运行的内容；条形图按项拆分预测内存；"
                     "每个要点是一项决定及其来源（规划器、你的数据、任务预设、演示模型的设置或你自己）。修改任务、方法或任何设置，"
                     "停止输入片刻后整个方案会重新生成（Ctrl+R 立即重新规划）；全参数微调时隐藏适配器设置。Ctrl+S 在新训练目录中"
                     "保存的正是该方案的配置（与 `danlu plan --save` 相同）；Ctrl+T 在后台开始训练并打开训练面板。",
        "help_dashboard": "训练面板\n\n训练目录的查看器：训练损失和验证损失、学习率、梯度范数、每秒 token 数、进度和剩余时间、"
                          "GPU/CPU/内存。d（或 Esc）离开：训练继续，欢迎页仍显示该训练。s 干净地停止训练"
                          "（完成当前步并保存）；k 立即保存检查点。显存不足时的自动降批、检查点和错误会以文字显示在下方。"
                          "c 对话，r 评估报告（训练结束后），e 导出。",
        "help_chat": "对话\n\n模型在后台加载。回车发送；文字流式出现；Esc 停止回复（再按 Esc 返回）；↑/↓ 调出之前的消息。"
                     "Ctrl+B 在微调模型和基座模型间切换（同一份权重，关闭适配器即为基座）；Ctrl+T 对每条消息并排显示两者。"
                     "右侧面板可设置系统提示词和采样参数（温度 0 为贪心）。Ctrl+Y 重试上一条，Ctrl+S 把对话以训练格式"
                     "（JSONL 一行）追加到文件，Ctrl+R 打开评估报告，Ctrl+L 清空对话。",
        "help_report": "评估报告\n\n该训练的评估：基座与微调模型的 eval loss 和困惑度、贪心回答相对参考答案的 ROUGE-L 和 BLEU、"
                       "采样回答的稳定性、通用问题上的遗忘探测、示例和模板检查。保存在训练目录的 eval.json 和 eval.md"
                       "（`danlu eval RUN` 生成同样的报告）。Ctrl+R 重新评估。",
        "help_export": "导出\n\n适配器体积小但需要基座模型；合并模型可独立使用（safetensors，基座原精度），并重新加载验证 logits。"
                       "GGUF 可在 llama.cpp、LM Studio 和 Ollama 中运行：每个文件都会被读回，并在 transformers 和 llama.cpp "
                       "中与合并模型对比（logits、分词、贪心回答）。Ollama Modelfile 的模板由聊天模板推导并用 Go 校验，"
                       "每个回合结束符都设为停止符。每个选项旁显示大小。Ctrl+E 导出；新导出完成前旧导出保持不变。"
                       "下方给出使用结果的命令。",
    },
}

_lang = None


def detect_lang() -> str:
    for var in ("DANLU_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    try:
        loc = locale.getlocale()[0] or ""
    except ValueError:
        loc = ""
    return "zh" if loc.lower().startswith("zh") else "en"


def set_lang(lang: str | None) -> None:
    global _lang
    _lang = lang if lang in STRINGS else detect_lang()


def current_lang() -> str:
    return _lang or detect_lang()


def has(key: str) -> bool:
    """Whether the current language has its own text for ``key`` (engine texts are English otherwise)."""
    return key in STRINGS[current_lang()]


def localised(value) -> str:
    """A preset's text: a ``{"en": …, "zh": …}`` value in the current language (English when it has none)."""
    if isinstance(value, dict):
        return value.get(current_lang()) or value.get("en", "")
    return str(value)


def say(text) -> str:
    """An engine text in the current language: a :class:`engine.core.texts.Msg` whose code has a ``msg_<code>`` entry
    here is said in these words (its string arguments said the same way, a true flag as ``msgpart_<code>_<name>``,
    a ``{"en": …, "zh": …}`` value in this language); anything else is the engine's English."""
    code = getattr(text, "code", None)
    # the wizard's own words first (a fix that names a CLI flag names the screen's control instead), then the
    # engine text's words in this language
    key = next((k for k in (f"wiz_{code}", f"msg_{code}") if code and has(k)), None)
    if key is None:
        return str(text)
    args = {}
    for name, value in text.args.items():
        if isinstance(value, bool):
            args[name] = t(f"msgpart_{code}_{name}") if value else ""
        elif isinstance(value, tuple):  # a list of texts, said one by one
            args[name] = (t("list_sep") if has("list_sep") else ", ").join(say(v) for v in value)
        elif isinstance(value, dict):  # a value given in several languages (presets)
            args[name] = localised(value)
        elif name == "state" and isinstance(value, str) and has(f"state_{value}"):  # a run's state, in our words
            args[name] = t(f"state_{value}")
        else:
            args[name] = say(value) if isinstance(value, str) else value
    try:
        return t(key, **args)
    except (KeyError, ValueError, IndexError, TypeError):  # a text from another version with other values: its own words
        return str(text)


def error_text(exc: BaseException) -> str:
    """An error as one line in the current language: a DanluError's what and fix said through :func:`say` (its
    Msg codes), where it is; any other exception by its type and message."""
    what, where, fix = (getattr(exc, name, None) for name in ("what", "where", "fix"))
    if what is None:
        return f"{type(exc).__name__}: {exc}"
    text = say(what)
    if where:
        text = t("error_line", where=where, what=text) if has("error_line") else f"{where}: {text}"
    if fix:
        text = t("error_fix", text=text, fix=say(fix)) if has("error_fix") else f"{text} — {say(fix)}"
    return text


def t(key: str, **kw) -> str:
    lang = current_lang()
    text = STRINGS[lang].get(key) or STRINGS["en"].get(key) or key
    return text.format(**kw) if kw else text
