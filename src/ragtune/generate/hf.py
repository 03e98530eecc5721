"""transformers engine: for Hugging Face model folders (and merged fine-tuned models).

A PEFT adapter folder can be given as ``adapter``; GGUF files load dequantised to float32.

With ``GenParams.choices`` nothing is decoded: each choice (followed by the end of the turn) is
scored by its log-likelihood after the prompt, in one batch, and the likeliest is the answer.
The thread count follows the machine's load (``ragtune.threads.ThreadPolicy``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from ragtune.config import GenerationSettings
from ragtune.errors import EngineError
from ragtune.generate.base import Generation, GenParams, Message, check_choices, last_generation
from ragtune.generate.registry import register_engine
from ragtune.modeling import load_causal_lm
from ragtune.registry import ModelSpec
from ragtune.threads import ThreadPolicy, torch_threads


@register_engine("transformers", auto_for=("hf",))
class TransformersEngine:
    name = "transformers"

    def __init__(self, spec: ModelSpec, settings: GenerationSettings, adapter: str | None = None):
        import torch  # torch and transformers are imported on use: registering this engine stays cheap
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.spec = spec
        self.adapter = adapter
        self.policy = ThreadPolicy(settings.threads)
        self.threads = self.policy.n
        self.n_ctx = settings.n_ctx
        try:
            if spec.kind == "gguf":
                self.model, self.tok = load_causal_lm(spec)
            else:
                self.tok = AutoTokenizer.from_pretrained(spec.path, local_files_only=True)
                self.model = AutoModelForCausalLM.from_pretrained(spec.path, dtype=torch.float32,
                                                                  local_files_only=True)
        except OSError as e:
            raise EngineError(f"transformers could not load {spec.path}: {e}") from e
        if adapter:
            from peft import PeftModel  # the [train] extra: pip install 'ragtune[train]'

            self.model = PeftModel.from_pretrained(self.model, adapter)
        self.model.eval()
        if not getattr(self.tok, "chat_template", None):
            raise EngineError(f"{spec.path} has no chat template; use an instruct model")
        self._lock = threading.Lock()

    def render(self, messages: list[Message]) -> str:
        return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def generate(self, messages: list[Message], params: GenParams) -> Generation:
        return last_generation(self.stream(messages, params))

    def stream(self, messages: list[Message], params: GenParams) -> Iterator[str | Generation]:
        import torch
        from transformers import TextIteratorStreamer

        if params.json_schema is not None:
            raise EngineError("the transformers engine cannot hold an answer to a JSON schema; "
                              "serve a GGUF model with generation.engine=llama.cpp for response_format")
        prompt = self.render(messages)
        ids = self.tok(prompt, return_tensors="pt", add_special_tokens=False)
        n_prompt = int(ids["input_ids"].shape[1])
        if n_prompt + params.max_tokens > self.n_ctx:
            raise EngineError(f"the prompt is {n_prompt} tokens and max_tokens {params.max_tokens}: more than "
                              f"n_ctx {self.n_ctx}; lower retrieval.top_k or raise generation.n_ctx")
        if params.choices:
            g = self._choose(ids["input_ids"][0], check_choices(params.choices))
            yield g.text
            yield g
            return
        streamer = TextIteratorStreamer(self.tok, skip_prompt=True, skip_special_tokens=True)
        kwargs = dict(**ids, max_new_tokens=params.max_tokens, streamer=streamer,
                      pad_token_id=self.tok.pad_token_id or self.tok.eos_token_id)
        if params.temperature > 0:
            torch.manual_seed(params.seed)
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False)
        result: dict = {}

        def run() -> None:
            with torch_threads(threads), torch.inference_mode():
                result["out"] = self.model.generate(**kwargs)

        with self._lock:
            threads = self.threads = self.policy.current()
            t0 = time.perf_counter()
            th = threading.Thread(target=run, daemon=True)
            th.start()
            first = None
            pieces = []
            for piece in streamer:
                if first is None:
                    first = time.perf_counter()
                text = piece
                for s in params.stop:
                    if s in "".join(pieces) + text:
                        text = ("".join(pieces) + text).split(s)[0][len("".join(pieces)):]
                        pieces.append(text)
                        yield text
                        break
                else:
                    pieces.append(text)
                    if text:
                        yield text
                    continue
                break
            th.join()
            t1 = time.perf_counter()
        n_out = int(result["out"].shape[1] - n_prompt) if "out" in result else 0
        first = first or t1
        decode_s = max(t1 - first, 1e-9)
        yield Generation("".join(pieces).strip(), n_prompt, n_out,
                         "length" if n_out >= params.max_tokens else "stop",
                         {"prompt_ms": (first - t0) * 1e3, "decode_ms": decode_s * 1e3, "total_ms": (t1 - t0) * 1e3,
                          "decode_tok_s": (n_out - 1) / decode_s if n_out > 1 else 0.0,
                          "threads": float(threads)})

    def _choose(self, prompt_ids, choices: list[str]) -> Generation:
        """The likeliest of ``choices`` after the prompt: sum of its tokens' log-probabilities, end of turn included."""
        import torch

        eos = [self.tok.eos_token_id] if self.tok.eos_token_id is not None else []
        conts = [self.tok(c, add_special_tokens=False)["input_ids"] + eos for c in choices]
        n_prompt, longest = int(prompt_ids.shape[0]), max(len(c) for c in conts)
        if n_prompt + longest > self.n_ctx:
            raise EngineError(f"the prompt is {n_prompt} tokens and the longest choice {longest}: more than "
                              f"n_ctx {self.n_ctx}; shorten the text or raise generation.n_ctx")
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else (eos or [0])[0]
        batch = torch.full((len(conts), n_prompt + longest), pad, dtype=torch.long)
        mask = torch.zeros_like(batch)
        for i, c in enumerate(conts):
            batch[i, :n_prompt] = prompt_ids
            batch[i, n_prompt:n_prompt + len(c)] = torch.tensor(c)
            mask[i, :n_prompt + len(c)] = 1
        with self._lock:
            threads = self.threads = self.policy.current()
            t0 = time.perf_counter()
            with torch_threads(threads), torch.inference_mode():
                # logits of the last longest+1 positions: those that predict the choice tokens
                logits = self.model(input_ids=batch, attention_mask=mask, logits_to_keep=longest + 1).logits
            t1 = time.perf_counter()
        logp = torch.log_softmax(logits.float(), dim=-1)
        scores = {choice: float(sum(logp[i, j, tok] for j, tok in enumerate(c)))
                  for i, (choice, c) in enumerate(zip(choices, conts, strict=True))}
        best = max(choices, key=scores.__getitem__)
        ms = (t1 - t0) * 1e3
        return Generation(best, n_prompt, len(conts[choices.index(best)]), "stop",
                          {"prompt_ms": ms, "decode_ms": 0.0, "total_ms": ms, "decode_tok_s": 0.0,
                           "threads": float(threads)}, choice_logprobs=scores)
