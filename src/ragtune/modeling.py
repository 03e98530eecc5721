"""Loading a causal LM and its tokenizer, and rendering chat messages with the model's template.

Below both ``generate`` (the transformers engine) and ``train`` (every recipe), so neither
imports the other for it.

A GGUF file (the bundled generator) is dequantised by transformers, which takes 10-20 s and
builds a model that refuses ``save_pretrained``. The first load therefore writes a float32
safetensors copy to a cache folder keyed by the file's fingerprint, and every later load
(including each process of a multi-process run) reads that copy instead.

The cache lives in ``$RAGTUNE_CACHE_DIR/hf/<fingerprint>/``, default ``~/.cache/ragtune/hf/``:
it depends only on the model file, so every project and data folder on the machine shares it.

torch and transformers are imported inside the functions that use them: importing this module
stays cheap for the CLI and the server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragtune.errors import ModelNotFoundError
from ragtune.registry import ModelSpec

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

CACHE_ENV = "RAGTUNE_CACHE_DIR"


def cache_root() -> Path:
    """Where dequantised copies of GGUF models are kept (see the module docstring)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ragtune"


def hf_cache_dir(spec: ModelSpec) -> Path:
    return cache_root() / "hf" / spec.fingerprint()


def _is_complete(folder: Path) -> bool:
    return (folder / "config.json").exists() and any(folder.glob("*.safetensors"))


def _dequantise_to_cache(spec: ModelSpec) -> Path:
    """Write a float32 Hugging Face copy of a GGUF model, atomically (temp folder + rename)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    target = hf_cache_dir(spec)
    if _is_complete(target):
        return target
    quiet_transformers()
    gguf = spec.local_path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-{uuid.uuid4().hex[:6]}-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # A GGUF-loaded model is flagged as quantised and cannot be saved: rebuild a plain one.
        config = AutoConfig.for_model(**{k: v for k, v in loaded.config.to_dict().items()
                                         if k not in ("quantization_config", "_name_or_path")})
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
        if unexpected or [k for k in missing if "lm_head" not in k]:
            raise ModelNotFoundError(
                f"{gguf}: could not convert the GGUF weights "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        if config.tie_word_embeddings:
            fresh.tie_weights()
        fresh.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        (tmp / "SOURCE").write_text(f"{gguf}\n", encoding="utf-8")
        del loaded
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process finished the same copy first; theirs is as good as ours.
            if not _is_complete(target):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def quiet_transformers() -> None:
    """Progress bars for loading 272 tensors are noise in a CLI that draws its own."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


# The model kinds training can load (``hf_model_dir``): a Hugging Face folder, or a GGUF file dequantised
# to a float copy. ``ragtune compare`` checks its generator against this before any work.
TRAINABLE_KINDS = ("hf", "gguf")


def hf_model_dir(spec: ModelSpec) -> Path:
    """A folder that ``from_pretrained`` can read for this model: the HF folder itself or the GGUF cache."""
    if spec.kind == "hf":
        return spec.local_path
    if spec.kind == "gguf":
        return _dequantise_to_cache(spec)
    raise ModelNotFoundError(
        f"model {spec.name!r} is a {spec.kind} model and cannot be fine-tuned; "
        "use a .gguf file or a Hugging Face causal LM folder"
    )


def load_tokenizer(spec: ModelSpec) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf_model_dir(spec))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(spec: ModelSpec, dtype: torch.dtype | None = None) -> tuple[PreTrainedModel, Any]:
    """Load ``(model, tokenizer)`` for training or inference, float32 unless ``dtype`` says otherwise.

    Training keeps float32 master weights and gets bf16 speed from autocast (see
    ``ragtune.train.model_io.autocast_dtype``), which is both faster on CPU and safer for the
    optimizer than bf16 weights.
    """
    import torch
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    folder = hf_model_dir(spec)
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype or torch.float32)
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(f"cannot load {spec.name!r} from {folder} as a causal LM: {e}") from e
    return model, load_tokenizer(spec)


def chat_template_prompt(
    tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = False
) -> str:
    """Render chat messages with the tokenizer's own template (the one the model was tuned with)."""
    if not getattr(tokenizer, "chat_template", None):
        # A base model without a template: a plain, visible fallback.
        parts = [f"{m['role']}: {m['content']}" for m in messages]
        return "\n".join(parts) + ("\nassistant: " if add_generation_prompt else "\n")
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )


def chat_segments(tokenizer: Any, messages: list[dict[str, str]]) -> list[tuple[str, bool]]:
    """Split a rendered conversation into ``(text, is_assistant_reply)`` pieces, in order.

    Each assistant reply is the text the template adds after the generation prompt, so the
    pieces concatenate exactly to the whole rendered conversation and a recipe can put the
    loss on the replies only. Templates whose renderings are not prefixes of each other (rare)
    fall back to training on the last reply.
    """
    pieces: list[tuple[str, bool]] = []
    done = ""
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        prompt = chat_template_prompt(tokenizer, messages[:i], add_generation_prompt=True)
        full = chat_template_prompt(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not (prompt.startswith(done) and full.startswith(prompt)):
            return _last_reply_segments(tokenizer, messages)
        pieces += [(prompt[len(done):], False), (full[len(prompt):], True)]
        done = full
    return [(t, trained) for t, trained in pieces if t]


def _last_reply_segments(tokenizer: Any, messages: list[dict[str, str]]) -> list[tuple[str, bool]]:
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    prompt = chat_template_prompt(tokenizer, messages[:last], add_generation_prompt=True)
    full = chat_template_prompt(tokenizer, messages[: last + 1], add_generation_prompt=False)
    reply = full[len(prompt):] if full.startswith(prompt) else messages[last]["content"]
    return [(prompt, False), (reply, True)]
