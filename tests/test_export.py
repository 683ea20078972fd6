"""Export on the real model: adapter, merged, GGUF (f16, q8_0) and Ollama, each checked in its runtime.

The GGUF files are loaded back by the gguf reader, transformers' GGUF loader and llama.cpp
(llama-cpp-python: `make test` installs it), the Modelfile's TEMPLATE is executed by Go's own
text/template (`make test` installs Go), and other architectures go through danlu's writer from
random-init models of each.
"""

import json
import os
import stat
from pathlib import Path

import pytest

from conftest import run_cli, run_json


@pytest.fixture(scope="module")
def exported(real_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "smol"
    res = run_json("export", real_run["run_dir"], "--to", "adapter,merged,gguf,ollama", "--gguf", "f16,q8_0",
                   "--out", out, timeout=2400)
    return res, out


def test_every_target_is_written_and_verified(exported):
    res, out = exported
    print(json.dumps({"merged": res["merged_check"], "gguf": [
        {"type": g["type"], "MB": round(g["bytes"] / 1e6), "transformers": g["verify"]["transformers"],
         "llama_cpp": {k: v for k, v in g["verify"]["llama_cpp"].items() if not k.startswith("greedy_")},
         "greedy": (g["verify"]["llama_cpp"].get("greedy_merged"), g["verify"]["llama_cpp"].get("greedy_llama_cpp"))}
        for g in res["gguf"]]}, indent=1, default=str))
    assert res["merged_check"]["ok"] and res["merged_check"]["max_abs_diff"] <= 1e-3
    assert [g["type"] for g in res["gguf"]] == ["f16", "q8_0"]
    for g in res["gguf"]:
        v = g["verify"]
        assert v["ok"], v["problem"]
        assert v["reader"]["chat_template_identical"] and v["reader"]["stops_at_end_of_turn"]
        assert v["reader"]["tokenizer_pre"] == "smollm"
        assert v["transformers"]["max_abs_diff"] <= v["bound"] and v["transformers"]["top1_agreement"] >= 0.9
        lc = v["llama_cpp"]
        assert "skipped" not in lc, "llama-cpp-python must be installed for the export checks (make test does it)"
        assert lc["tokenizer_identical"] and lc["max_abs_diff"] <= v["bound"]
        for runtime in (lc, v["transformers"]):
            # the merged model's greedy answer to a held-out question; a quantised file may part from it only at a
            # near tie (its two best tokens closer than the type's rounding), f16 not at all
            assert runtime["greedy_identical"] or (g["type"] != "f16" and runtime["greedy_near_tie"]), runtime
    for sub in ("adapter", "merged"):
        assert (out / sub / "README.md").is_file()
    card = (out / "README.md").read_text()
    assert "demo:smollm2" in card and "llama-cli" in card and "ollama create" in card


def test_adapter_and_merged_load_in_transformers_and_peft(exported):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from danlu.engine.models import load as models

    res, out = exported
    tok = AutoTokenizer.from_pretrained(out / "merged")
    merged = AutoModelForCausalLM.from_pretrained(out / "merged", dtype=torch.float32).eval()
    base = AutoModelForCausalLM.from_pretrained(models.resolve_model("demo:smollm2"), dtype=torch.float32)
    peft = PeftModel.from_pretrained(base, out / "adapter").eval()
    ids = torch.tensor([tok("Where do I send my water samples?")["input_ids"]])
    with torch.no_grad():
        diff = (merged(ids).logits - peft(ids).logits).abs().max().item()
    assert diff <= 1e-3
    gen = json.loads((out / "merged" / "generation_config.json").read_text())
    assert tok.convert_tokens_to_ids("<|im_end|>") in (gen["eos_token_id"] if isinstance(gen["eos_token_id"], list)
                                                       else [gen["eos_token_id"]])


def test_modelfile_stops_and_template(exported):
    res, out = exported
    o = res["ollama"]
    text = Path(o["modelfile"]).read_text()
    assert f"FROM ./{o['gguf']}" in text and (out / "gguf" / o["gguf"]).is_file()
    assert 'PARAMETER stop "<|im_end|>"' in text
    assert 'TEMPLATE """' in text and o["template_check"]["identical"]
    assert "ollama create" in o["create"]


def test_exported_files_have_normal_permissions(exported):
    _, out = exported
    mask = os.umask(0)
    os.umask(mask)
    for p in [out, *out.rglob("*")]:
        want = (0o777 if p.is_dir() else 0o666) & ~mask
        assert stat.S_IMODE(p.stat().st_mode) == want, p


def test_an_existing_export_is_refused_before_anything_loads(exported, real_run):
    _, out = exported
    proc = run_cli("export", real_run["run_dir"], "--out", out)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    proc = run_cli("export", real_run["run_dir"], "--to", "gguf", "--gguf", "q4_k_m", "--llama-quantize",
                   "/nonexistent/llama-quantize", "--out", out.parent / "other")
    assert proc.returncode == 2 and "llama-quantize not found" in proc.stderr
    assert not (out.parent / "other").exists()
    proc = run_cli("export", real_run["run_dir"], "--to", "hub", "--out", out.parent / "h", env={"HF_TOKEN": ""})
    assert proc.returncode == 2 and "--hub-repo" in proc.stderr


# -- Ollama templates, executed by Go ---------------------------------------------------------------------------
TEMPLATES = {
    # ChatML with no default system prompt (Qwen2.5 without its default, the demo models)
    "chatml": "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
              "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    # Llama 3 style: header ids, eot
    "llama3": "{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' + "
              "m['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}"
              "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    # Phi-3 style: no newline after the end token, a different end-of-turn
    "phi3": "{% for m in messages %}{{ '<|' + m['role'] + '|>\n' + m['content'] + '<|end|>\n' }}{% endfor %}"
            "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}",
}


@pytest.mark.parametrize("name", ["smollm2", *TEMPLATES])
def test_ollama_template_renders_byte_for_byte_in_go(name, smollm2):
    from transformers import AutoTokenizer

    from danlu.engine.export import ollama

    if ollama.go_available() is None:
        pytest.fail("Go is needed for this test (make test installs golang-go; or apt-get install golang-go)")
    tok = AutoTokenizer.from_pretrained(smollm2)
    if name != "smollm2":
        tok.chat_template = TEMPLATES[name]
    parts = ollama.derive_template(tok)
    check = ollama.check_template(parts["go"], tok)
    assert check["identical"], check
    if name == "smollm2":  # its template inserts a default system prompt when there is none
        assert "You are a helpful AI assistant named SmolLM" in parts["default_system"]


# -- other architectures through danlu's GGUF writer -------------------------------------------------------------
ARCH_CONFIGS = {
    "qwen2": dict(model_type="qwen2", tie_word_embeddings=True),
    "mistral": dict(model_type="mistral", tie_word_embeddings=False),
    "qwen3": dict(model_type="qwen3", head_dim=16, tie_word_embeddings=True),
    "gemma": dict(model_type="gemma", head_dim=16, tie_word_embeddings=True),
    "gemma2": dict(model_type="gemma2", head_dim=16, tie_word_embeddings=True, sliding_window=64,
                   attn_logit_softcapping=50.0, final_logit_softcapping=30.0),
}


@pytest.mark.parametrize("arch", list(ARCH_CONFIGS))
def test_gguf_writer_gives_the_same_model_for_other_architectures(arch, smollm2, tmp_path):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from danlu.engine.export import checks, pipeline as export, gguf_export, gguf_verify

    tok = AutoTokenizer.from_pretrained(smollm2)
    kw = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=512, bos_token_id=tok.bos_token_id,
              eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **ARCH_CONFIGS[arch])
    model_type = kw.pop("model_type")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **kw)).to(torch.float32).eval()
    with torch.no_grad():  # visible weights: random-init norms and biases are trivial
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
    folder = tmp_path / arch
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    out = tmp_path / f"{arch}-f16.gguf"
    info = gguf_export.write_gguf(folder, out, qtype="f16", pre="smollm")
    ids = export._probe(tok)
    ref = checks.logits(model, ids)
    v = gguf_verify.verify(out, tok, merged_dir=folder, ids=ids, ref_logits=ref, qtype="f16")
    print(arch, info["architecture"], {k: v.get(k) for k in ("transformers", "llama_cpp")})
    assert v["ok"], v["problem"]
    assert "skipped" not in v["llama_cpp"], "llama-cpp-python must be installed"
    assert v["llama_cpp"]["top1_agreement"] >= 0.95


def test_a_hub_push_uses_the_token_and_writes_it_nowhere(real_run, tmp_path):
    """A local stand-in for the Hub records the requests and refuses them: the push fails in one line, the export
    on disk is complete, the token went in the Authorization header and is in no file, log or output."""
    import http.server
    import threading

    secret = "hf_danluTestSecret0123456789abcdef"
    seen = []

    class Hub(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": "forbidden"}')

        do_GET = do_POST = do_PUT = do_HEAD = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = tmp_path / "exp"
    try:
        proc = run_cli("export", real_run["run_dir"], "--to", "hub", "--hub-repo", "someone/lab-model", "--out", out,
                       env={"HF_TOKEN": secret, "HF_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
                            "HF_HUB_OFFLINE": "0"}, timeout=900)
    finally:
        server.shutdown()
    assert proc.returncode == 2 and "pushing to the Hub failed" in proc.stderr, proc.stderr[-2000:]
    assert any(secret in h for h in seen), "the token must be sent to the Hub"
    assert secret not in proc.stdout + proc.stderr
    assert (out / "adapter" / "adapter_model.safetensors").is_file() and (out / "danlu_export.json").is_file()
    for root in (out, Path(real_run["run_dir"])):
        for p in root.rglob("*"):
            if p.is_file() and p.stat().st_size < 50_000_000:
                assert secret.encode() not in p.read_bytes(), p


def test_a_write_failure_leaves_the_old_export_and_nothing_complete_looking(real_run, tmp_path):
    """Writing stops half-way (files capped at 60 MB, as a full disk stops it): one line naming the path, exit 2,
    the previous export untouched, no complete-looking folder, no temporary folder left."""
    import resource
    import signal
    import subprocess
    import sys

    from conftest import ROOT

    out = tmp_path / "exp"
    run_json("export", real_run["run_dir"], "--to", "adapter", "--out", out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))

    def capped():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (60 * 1024 * 1024, 60 * 1024 * 1024))

    proc = subprocess.run([sys.executable, "-m", "danlu.engine.cli", "export", real_run["run_dir"], "--to", "merged",
                           "--out", str(out), "--overwrite"], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), preexec_fn=capped, timeout=900)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("danlu: error:")]
    assert len(errors) == 1 and "no space left while writing" in errors[0] and "Traceback" not in proc.stderr
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before, "the old export must be untouched"
    assert not (out / "merged").exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".exp")], "temporary folders left behind"


def test_an_export_that_cannot_fit_is_refused_before_writing(real_run, tmp_path):
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs is not permitted here (the write-failure test covers the path)")
    try:
        proc = run_cli("export", real_run["run_dir"], "--to", "adapter,merged", "--out", mnt / "exp")
        assert proc.returncode == 2 and "not enough disk space" in proc.stderr, proc.stderr
        assert "GB are free" in proc.stderr and not list(mnt.iterdir())
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
