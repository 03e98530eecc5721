from __future__ import annotations

import json

import pytest

from ragtune.config import PromptSettings, load_settings
from ragtune.train.data import QAItem
from ragtune.train.sft import build_examples, item_messages, tokenize_chat


def test_question_rows_use_the_closed_book_prompt():
    p = PromptSettings(base_system="SYS", base_template="Q: {question}")
    msgs = item_messages(QAItem("f:1", "qa", "Who?", "Ada."), p)
    assert msgs == [{"role": "system", "content": "SYS"}, {"role": "user", "content": "Q: Who?"},
                    {"role": "assistant", "content": "Ada."}]
    assert item_messages(QAItem("f:2", "prompt", "P", "C"))[0] == {"role": "user", "content": "P"}


def test_loss_mask_covers_exactly_the_answer_tokens(tokenizer):
    item = QAItem("f:1", "qa", "Who wrote the first program?", "Ada Lovelace")
    ex = build_examples([item], tokenizer)[0]
    msgs = item_messages(item)
    prompt = tokenizer.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    answer_ids = tokenizer("Ada Lovelace<|im_end|>\n", add_special_tokens=False)["input_ids"]
    assert ex.labels == [-100] * n_prompt + answer_ids
    assert ex.input_ids[n_prompt:] == answer_ids and len(ex.input_ids) == n_prompt + len(answer_ids)
    assert tokenizer.decode(ex.input_ids) == tokenizer.apply_chat_template(msgs, tokenize=False)


def test_multi_turn_chat_trains_every_assistant_turn(tokenizer):
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye"}]
    ex = tokenize_chat(tokenizer, msgs, "f:1")
    trained = [t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != -100]
    assert tokenizer.decode(trained) == "Hello<|im_end|>\nGoodbye<|im_end|>\n"


def _qa_file(path, n=4):
    facts = [("What colour is the Zorblat fruit?", "Bright teal"), ("Who founded Quenvik?", "Mara Oduya"),
             ("When did the Trelling bridge open?", "In 1847"),
             ("What is Pell's favourite tool?", "A brass awl")]
    path.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in facts[:n]))
    return path


@pytest.mark.slow
def test_sft_overfits_four_examples_and_saves_a_model(tmp_path):
    from ragtune.train.artifacts import list_models, load_model_info
    from ragtune.train.config import TrainConfig
    from ragtune.train.sft import train

    settings = load_settings(overrides=[f"data_dir='{tmp_path / 'data'}'"], env={})
    cfg = TrainConfig(max_steps=8, batch_size=4, lr=2e-3, max_seq_len=128, seed=0, warmup_steps=1)
    out = train(settings, [_qa_file(tmp_path / "qa.jsonl")], "facts", cfg, progress=False)
    losses = [loss for _, loss in out.result.train_losses]
    assert losses[-1] < 0.5 * losses[0]
    info = load_model_info(settings, "facts")
    assert [m.name for m in list_models(settings)] == ["facts"]
    assert info.recipe == "sft" and info.weights == "lora" and info.task == "generate"
    assert (info.folder / "adapter" / "adapter_model.safetensors").exists()
    assert not (info.folder / "checkpoints").exists() and info.size_bytes > 0
    assert info.metrics["final_loss"] == pytest.approx(losses[-1])
