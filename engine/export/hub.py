"""Push an export to the Hugging Face Hub.  The token comes from HF_TOKEN or `hf auth login` and is never
written to a file, a log, an event or an error message."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..core import paths
from ..core.errors import DanluError



def token() -> str | None:
    value = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if value:
        return value
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:  # noqa: BLE001 - no stored login
        return None


def scrub(text: str) -> str:
    tok = token()
    text = str(text)
    if tok:
        text = text.replace(tok, "***")
    return re.sub(r"hf_[A-Za-z0-9]{8,}", "hf_***", text)


def check_repo(repo: str | None) -> None:
    if not repo:
        raise DanluError("--hub-repo is needed for the hub target", fix="e.g. --hub-repo your-name/my-lab-assistant")
    if not paths.HUB_ID.match(repo):
        raise DanluError(f"not a Hub repository id: {repo!r}", fix="write it as owner/name")
    if not token():
        raise DanluError("no Hugging Face token", fix="run `hf auth login`, or set HF_TOKEN in the environment")


def push(folder: Path, repo: str, *, private: bool = True) -> dict:
    """Create (if needed) and upload ``folder`` to ``repo``; the model card is the folder's README.md."""
    check_repo(repo)
    from huggingface_hub import HfApi

    api = HfApi(token=token())
    try:
        api.create_repo(repo, private=private, exist_ok=True, repo_type="model")
        info = api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="model",
                                 commit_message="Upload from danlu", ignore_patterns=["danlu_verify.json"])
    except Exception as exc:  # noqa: BLE001 - said in one line, with the token taken out
        raise DanluError(f"pushing to the Hub failed: {scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:300]}",
                         fix="check the network, the repository name and that the token may write to it "
                             "(the export on disk is complete)") from None
    url = getattr(info, "commit_url", None) or f"https://huggingface.co/{repo}"
    return {"repo": repo, "url": str(url), "private": private, "folder": str(folder)}
