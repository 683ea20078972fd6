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
        "key_start": "Start training", "key_detach": "Detach", "key_stop": "Stop run", "key_base": "Tuned/base",
        "key_clear": "Clear", "key_stop_or_back": "Stop/back", "key_export_now": "Export", "key_close": "Close",
        "key_cancel": "Cancel",
        # buttons
        "btn_back": "Back", "btn_next": "Next", "btn_save": "Save config", "btn_start": "Start training",
        "btn_export": "Export", "btn_no": "No, keep it off", "btn_yes_trust": "Yes, run its code",
        # welcome
        "welcome_title": "丹炉 danlu — fine-tune a chat model on one GPU",
        "welcome_body": "From “I have a GPU and some data” to chatting with your fine-tuned model and exporting it.",
        "new_finetune": "New fine-tune",
        "quickstart_cli": "Run the offline demo end to end (danlu quickstart)",
        "runs_on_disk": "Runs on disk ({root}) — Enter/a attach · c chat · e export",
        "col_run": "Run", "col_state": "State", "col_method": "Method", "col_step": "Step", "col_loss": "Loss",
        "no_runs": "no runs yet",
        "pick_run_first": "Pick a run in the table first (Tab moves there).",
        "quickstart_hint": "Quit (q) and run `danlu quickstart` — or `danlu quickstart --help` for options.",
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
        "hw_ram": "RAM", "hw_disk": "Disk", "hw_pick_gpu": "Several GPUs: pick the one to train on (↑/↓).",
        "col_what": "What", "col_value": "Value", "col_name": "Name", "col_free": "Free",
        "wait_probe": "Wait for the probe to finish.",
        # model
        "step_model": "Step 2/4 · Model", "computing_fit": "Checking what fits this machine…",
        "fit_for_machine": "Fit on this machine (planner, seq len 1024); Enter picks:",
        "col_model": "Model", "col_family": "Family", "col_size": "Size", "col_fit": "Fit here",
        "does_not_fit": "does not fit",
        "model_custom_hint": "Or a Hugging Face id / local folder (Enter checks it, offline if there is no network):",
        "model_custom_placeholder": "e.g. Qwen/Qwen2.5-0.5B-Instruct or ~/models/my-model",
        "checking_model": "Checking…", "wait_fit": "Wait for the fit check.",
        "trust_remote_code": "trust_remote_code (run model code from the repository)",
        "trust_question": "Run Python code shipped with this model's repository?\n\nOnly do this for a model whose "
                          "authors you trust: the code runs with your user's rights. Most models (Llama, Qwen, "
                          "Mistral, Gemma, Phi-3) do not need it.",
        "license_note": "Licence: {license} — read it before you share the fine-tuned model.",
        "license_check": "see the model card",
        # data
        "step_data": "Step 3/4 · Data",
        "data_file_hint": "Dataset file (JSONL/JSON/CSV/Parquet; Alpaca, ShareGPT, messages…). Enter reads it; "
                          "Ctrl+O: the bundled sample.",
        "data_file_placeholder": "path/to/data.jsonl", "reading": "Reading {path}…",
        "fix_path": "check the path; Ctrl+O uses the bundled sample data",
        "data_summary": "✓ {records} records · {kept} kept · {problems} problems · {removed} duplicates removed",
        "data_format": "Format: {format} ({confidence}) — {evidence}", "mapping": "column mapping",
        "preview": "Preview (as the model will see the turns)", "problems": "Problems (↑/↓ shows the line and the fix)",
        "col_line": "Line", "col_turns": "Turns", "col_user": "User", "col_assistant": "Assistant",
        "col_field": "Field", "col_problem": "Problem", "no_problems": "no problems found",
        "eval_ratio": "Eval share", "split_info": "split: {train} train / {eval} eval conversations",
        "no_data_yet": "No usable conversations yet: read a file first.",
        # plan
        "step_plan": "Step 4/4 · Plan", "planning": "Planning…",
        "plan_fits": "✓ The plan fits this machine.",
        "plan_no_fit": "✗ Nothing fits this machine with these settings — see the remedies below.",
        "plan_pick": "{method} · micro-batch {mb} × accumulation {ga} · seq len {seq} · {prec} · "
                     "grad checkpointing {gc} · {opt} · peak {peak:.2f} GB · {trainable} trainable params",
        "on": "on", "off": "off", "alternatives": "Alternatives:", "task_preset": "Task",
        "demo_lr_note": "(Demo model: random init, so it uses demo.yaml's higher learning rate.)",
        "bad_number": "A setting is not a valid number", "wait_plan": "Wait for the plan.",
        "saving": "Preparing the run folder…", "starting": "Preparing the run and starting training…",
        "config_saved": "✓ Saved {path} — reproduce with: danlu train <that file>",
        # dashboard
        "dash_title": "Run {run} · {state}", "reading_events": "Reading events…",
        "chart_title": "loss (line) · eval loss (dots)", "chart_x": "step",
        "m_loss": "loss", "m_eval": "eval", "m_epoch": "epoch", "elapsed": "elapsed",
        "no_system_yet": "(no system samples yet)", "no_events_yet": "(no events yet)",
        "detached": "Detached from {run}: training continues. Re-attach from the Welcome screen.",
        "not_running": "The run is not running (state: {state}).",
        "stop_sent": "Asked the run to stop: it finishes the step, saves and exits.",
        "state_pending": "pending", "state_running": "running", "state_done": "done", "state_failed": "failed",
        "state_stopped": "stopped", "state_crashed": "crashed (process gone)",
        # chat
        "chat_title": "Chat · {run}", "loading_model": "Loading the model… (torch loads on first use)",
        "model_ready_tuned": "Tuned model ready — Enter sends, Esc stops, Ctrl+B switches to the base model",
        "model_ready_base": "BASE model ready (no adapter) — Ctrl+B switches back to the tuned model",
        "generating": "Generating… (Esc stops)", "stopped": "stopped",
        "system_prompt": "System", "system_placeholder": "optional system prompt", "max_tokens": "Max",
        "chat_placeholder": "Type a message and press Enter",
        # export
        "export_title": "Export · {run}", "target_adapter": "LoRA adapter (small; needs the base model)",
        "target_merged": "Merged model (safetensors; stands alone), verified against the tuned model",
        "destination": "Destination folder:", "free_space": "{gb} GB free there",
        "overwrite": "Overwrite a non-empty folder", "pick_target": "Pick at least one target.",
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
                     "format and says why, shows the first conversations, and lists every problem with its line: "
                     "move through them to see what is wrong and how to fix it. Set the eval share; Ctrl+N goes on.",
        "help_plan": "PLAN\n\nThe planner's pick with the memory it predicts, split by term, and why. A task preset "
                     "sets learning rate, epochs and LoRA rank with its reason. Edit any setting (hover for a hint); "
                     "Enter on seq len or rank re-plans (Ctrl+R). Ctrl+S saves the config in a new run folder; "
                     "Ctrl+T starts training in the background and opens the dashboard.",
        "help_dashboard": "DASHBOARD\n\nA viewer of the run folder: loss and eval loss, lr, grad-norm, tokens/s, "
                          "progress and ETA, GPU/CPU/RAM. d (or Esc) detaches: training continues and the run "
                          "stays on the Welcome screen. s stops the run cleanly (finishes the step, saves). "
                          "c chats, e exports.",
        "help_chat": "CHAT\n\nThe model loads in the background. Enter sends; tokens stream in; Esc stops the "
                     "reply (Esc again goes back). Ctrl+B switches between the tuned model and the base model. "
                     "Set a system prompt, temperature (0 = greedy) and the maximum new tokens above.",
        "help_export": "EXPORT\n\nThe adapter is small and needs the base model; the merged model stands alone "
                       "(safetensors) and is reloaded to verify its logits. Pick a destination and press Ctrl+E. "
                       "The commands to use the result appear below; select and copy them.",
    },
    "zh": {
        "key_quit": "退出", "key_refresh": "刷新", "key_new": "新建", "key_attach": "查看", "key_chat": "对话",
        "key_export": "导出", "key_help": "帮助", "key_theme": "主题", "key_back": "返回", "key_next": "下一步",
        "key_reprobe": "重新检测", "key_sample": "示例数据", "key_replan": "重新规划", "key_save": "保存配置",
        "key_start": "开始训练", "key_detach": "离开", "key_stop": "停止训练", "key_base": "微调/基座",
        "key_clear": "清空", "key_stop_or_back": "停止/返回", "key_export_now": "导出", "key_close": "关闭",
        "key_cancel": "取消",
        "btn_back": "返回", "btn_next": "下一步", "btn_save": "保存配置", "btn_start": "开始训练",
        "btn_export": "导出", "btn_no": "不，保持关闭", "btn_yes_trust": "是，运行其代码",
        "welcome_title": "丹炉 danlu —— 单卡微调对话模型",
        "welcome_body": "从“我有一张显卡和一些数据”到与微调后的模型对话并导出。",
        "new_finetune": "新建微调",
        "quickstart_cli": "离线演示：一键跑完全流程（danlu quickstart）",
        "runs_on_disk": "磁盘上的训练（{root}）—— 回车/a 查看 · c 对话 · e 导出",
        "col_run": "训练", "col_state": "状态", "col_method": "方法", "col_step": "步数", "col_loss": "损失",
        "no_runs": "还没有训练",
        "pick_run_first": "请先在表格中选择一个训练（Tab 切换过去）。",
        "quickstart_hint": "按 q 退出后运行 `danlu quickstart`，或 `danlu quickstart --help` 查看选项。",
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
        "hw_ram": "内存", "hw_disk": "磁盘", "hw_pick_gpu": "有多张 GPU：用 ↑/↓ 选择训练用的一张。",
        "col_what": "项目", "col_value": "值", "col_name": "名称", "col_free": "可用",
        "wait_probe": "请等待检测完成。",
        "step_model": "第 2/4 步 · 模型", "computing_fit": "正在估算本机能训练哪些模型…",
        "fit_for_machine": "本机适配情况（规划器，序列长度 1024）；回车选择：",
        "col_model": "模型", "col_family": "系列", "col_size": "规模", "col_fit": "本机适配",
        "does_not_fit": "放不下",
        "model_custom_hint": "或输入 Hugging Face 模型 id / 本地目录（回车检查；无网络时离线检查）：",
        "model_custom_placeholder": "例如 Qwen/Qwen2.5-0.5B-Instruct 或 ~/models/my-model",
        "checking_model": "检查中…", "wait_fit": "请等待适配检查完成。",
        "trust_remote_code": "trust_remote_code（运行模型仓库中的代码）",
        "trust_question": "要运行此模型仓库附带的 Python 代码吗？\n\n只对你信任其作者的模型这样做：代码将以你的用户权限运行。"
                          "大多数模型（Llama、Qwen、Mistral、Gemma、Phi-3）不需要。",
        "license_note": "许可：{license} —— 分享微调模型前请阅读。", "license_check": "见模型卡",
        "step_data": "第 3/4 步 · 数据",
        "data_file_hint": "数据文件（JSONL/JSON/CSV/Parquet；Alpaca、ShareGPT、messages…）。回车读取；Ctrl+O：自带示例。",
        "data_file_placeholder": "path/to/data.jsonl", "reading": "正在读取 {path}…",
        "fix_path": "检查路径；Ctrl+O 使用自带示例数据",
        "data_summary": "✓ {records} 条记录 · 保留 {kept} · {problems} 个问题 · 去重 {removed}",
        "data_format": "格式：{format}（{confidence}）—— {evidence}", "mapping": "列映射",
        "preview": "预览（模型看到的对话轮次）", "problems": "问题（↑/↓ 查看行号与修复方法）",
        "col_line": "行", "col_turns": "轮数", "col_user": "用户", "col_assistant": "助手",
        "col_field": "字段", "col_problem": "问题", "no_problems": "没有发现问题",
        "eval_ratio": "验证集比例", "split_info": "划分：训练 {train} / 验证 {eval} 条对话",
        "no_data_yet": "还没有可用的对话：请先读取文件。",
        "step_plan": "第 4/4 步 · 方案", "planning": "规划中…",
        "plan_fits": "✓ 方案在本机放得下。",
        "plan_no_fit": "✗ 以当前设置本机放不下 —— 见下方的补救办法。",
        "plan_pick": "{method} · 微批 {mb} × 累积 {ga} · 序列长度 {seq} · {prec} · 梯度检查点 {gc} · {opt} · "
                     "峰值 {peak:.2f} GB · 可训练参数 {trainable}",
        "on": "开", "off": "关", "alternatives": "其他方案：", "task_preset": "任务",
        "demo_lr_note": "（演示模型随机初始化，因此使用 demo.yaml 中较高的学习率。）",
        "bad_number": "有设置不是有效数字", "wait_plan": "请等待规划完成。",
        "saving": "正在准备训练目录…", "starting": "正在准备训练目录并开始训练…",
        "config_saved": "✓ 已保存 {path} —— 复现：danlu train <该文件>",
        "dash_title": "训练 {run} · {state}", "reading_events": "正在读取事件…",
        "chart_title": "loss（线）· eval loss（点）", "chart_x": "step",
        "m_loss": "损失", "m_eval": "验证", "m_epoch": "轮次", "elapsed": "已用",
        "no_system_yet": "（还没有系统采样）", "no_events_yet": "（还没有事件）",
        "detached": "已离开 {run}：训练继续进行。可在欢迎页重新查看。",
        "not_running": "该训练未在运行（状态：{state}）。",
        "stop_sent": "已请求停止：完成当前步、保存后退出。",
        "state_pending": "等待中", "state_running": "运行中", "state_done": "已完成", "state_failed": "失败",
        "state_stopped": "已停止", "state_crashed": "已崩溃（进程不在）",
        "chat_title": "对话 · {run}", "loading_model": "正在加载模型…（首次使用时加载 torch）",
        "model_ready_tuned": "微调模型已就绪 —— 回车发送，Esc 停止，Ctrl+B 切换到基座模型",
        "model_ready_base": "基座模型已就绪（无适配器）—— Ctrl+B 切回微调模型",
        "generating": "生成中…（Esc 停止）", "stopped": "已停止",
        "system_prompt": "系统", "system_placeholder": "可选的系统提示词", "max_tokens": "最多",
        "chat_placeholder": "输入消息并回车",
        "export_title": "导出 · {run}", "target_adapter": "LoRA 适配器（小；需要基座模型）",
        "target_merged": "合并模型（safetensors；可独立使用），并与微调模型对比验证",
        "destination": "目标目录：", "free_space": "该处可用 {gb} GB",
        "overwrite": "覆盖非空目录", "pick_target": "请至少选择一个导出目标。",
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
        "help_data": "数据\n\n选择数据文件（回车读取；Ctrl+O 使用自带示例）。danlu 识别格式并说明依据，显示前几条对话，"
                     "并列出每个问题及其行号：移动光标查看问题和修复方法。设置验证集比例；Ctrl+N 继续。",
        "help_plan": "方案\n\n规划器的选择、按项拆分的预测显存及理由。任务预设会设置学习率、轮数和 LoRA 秩并说明理由。"
                     "可编辑任何设置；在序列长度或秩上回车重新规划（Ctrl+R）。Ctrl+S 在新训练目录中保存配置；"
                     "Ctrl+T 在后台开始训练并打开训练面板。",
        "help_dashboard": "训练面板\n\n训练目录的查看器：loss 和 eval loss、学习率、梯度范数、tokens/s、进度和剩余时间、"
                          "GPU/CPU/内存。d（或 Esc）离开：训练继续，欢迎页仍显示该训练。s 干净地停止训练"
                          "（完成当前步并保存）。c 对话，e 导出。",
        "help_chat": "对话\n\n模型在后台加载。回车发送；文字流式出现；Esc 停止回复（再按 Esc 返回）。"
                     "Ctrl+B 在微调模型和基座模型间切换。上方可设置系统提示词、温度（0 为贪心）和最多生成的 token 数。",
        "help_export": "导出\n\n适配器体积小但需要基座模型；合并模型可独立使用（safetensors），并会重新加载以验证 logits。"
                       "选择目标目录后按 Ctrl+E。下方会给出使用结果的命令，可选中复制。",
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


def t(key: str, **kw) -> str:
    lang = current_lang()
    text = STRINGS[lang].get(key) or STRINGS["en"].get(key) or key
    return text.format(**kw) if kw else text
