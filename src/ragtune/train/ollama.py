"""An Ollama Modelfile for a trained LoRA model: the GGUF base, the GGUF adapter, the chat template.

Ollama's templates are Go templates, the GGUF's chat template is Jinja; no general translation
exists, so the chat formats in use by the supported bases are written out by hand, chosen by
the markers the Jinja template contains (``<|im_start|>`` for ChatML, and so on). Another format
fails with one line naming the fix (``--ollama-template``, a file holding the Go template).
Grammar: https://github.com/ollama/ollama/blob/main/docs/modelfile.md (FROM, ADAPTER, TEMPLATE,
PARAMETER, SYSTEM; a value over several lines in triple quotes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragtune.errors import TrainingError
from ragtune.gguf_header import gguf_metadata

# (marker in the Jinja chat template, Go template, stop strings)
CHAT_FORMATS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "chatml": ("<|im_start|>",
               "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
               "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
               "<|im_start|>assistant\n",
               ("<|im_start|>", "<|im_end|>")),
    "llama3": ("<|start_header_id|>",
               "{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
               "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>"
               "{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
               ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")),
    "gemma": ("<start_of_turn>",
              "{{- range .Messages }}<start_of_turn>{{ if eq .Role \"assistant\" }}model{{ else }}{{ .Role }}"
              "{{ end }}\n{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n",
              ("<start_of_turn>", "<end_of_turn>")),
    "phi3": ("<|assistant|>",
             "{{- if .System }}<|system|>\n{{ .System }}<|end|>\n{{ end }}"
             "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}<|end|>\n{{ end }}<|assistant|>\n",
             ("<|end|>", "<|user|>", "<|assistant|>")),
}


def chat_format(jinja_template: str | None) -> str:
    """Which of ``CHAT_FORMATS`` a GGUF chat template (Jinja) is, by its markers."""
    for name, (marker, _, _) in CHAT_FORMATS.items():
        if jinja_template and marker in jinja_template:
            return name
    raise TrainingError("the base model's chat template is not one ragtune can write for Ollama (ChatML, Llama 3, "
                        "Gemma, Phi-3); give the Go template in a file: --ollama-template FILE")


def gguf_chat_template(base_gguf: Path) -> str | None:
    """``tokenizer.chat_template`` from the GGUF header (None when the file has none)."""
    return gguf_metadata(base_gguf, {"tokenizer.chat_template"}).get("tokenizer.chat_template")


def _quoted(text: str) -> str:
    if '"""' in text:
        raise TrainingError('a Modelfile value cannot hold three double quotes ("""); remove them from the text')
    return f'"""{text}"""'


def render_modelfile(base_gguf: Path, adapter_gguf: Path, template: str, stops: tuple[str, ...],
                     parameters: dict[str, Any], system: str | None = None) -> str:
    """The Modelfile text; paths are absolute so ``ollama create -f`` works from any folder."""
    lines = ["# Written by ragtune: ollama create NAME -f Modelfile", f"FROM {base_gguf.resolve()}",
             f"ADAPTER {adapter_gguf.resolve()}", f"TEMPLATE {_quoted(template)}"]
    if system:
        lines.append(f"SYSTEM {_quoted(system)}")
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    lines += [f"PARAMETER {k} {v}" for k, v in parameters.items()]
    return "\n".join(lines) + "\n"


def write_modelfile(base_gguf: Path, adapter_gguf: Path, out: Path, generation: Any, system: str | None = None,
                    template_file: Path | None = None) -> Path:
    """Write ``out`` (a Modelfile) for the base + adapter, with the generation settings as PARAMETERs."""
    if template_file is not None:
        if not template_file.is_file():
            raise TrainingError(f"--ollama-template {template_file}: no such file")
        template, stops = template_file.read_text(encoding="utf-8"), ()
    else:
        _, template, stops = CHAT_FORMATS[chat_format(gguf_chat_template(base_gguf))]
    params = {"temperature": generation.temperature, "top_p": generation.top_p, "num_ctx": generation.n_ctx,
              "num_predict": generation.max_tokens, "seed": generation.seed}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render_modelfile(base_gguf, adapter_gguf, template, stops, params, system), encoding="utf-8")
    tmp.replace(out)
    return out
