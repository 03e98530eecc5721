"""The focus reader and answer clean-up, on real SQuAD text."""

from ragtune.config import load_settings
from ragtune.generate.reader import clean_answer, focus_hits, reader_messages
from ragtune.types import Chunk, Hit

SB = ("Super Bowl 50 was an American football game to determine the champion of the National Football League "
      "(NFL) for the 2015 season. The American Football Conference (AFC) champion Denver Broncos defeated the "
      "National Football Conference (NFC) champion Carolina Panthers 24–10 to earn their third Super Bowl title. "
      "The game was played on February 7, 2016, at Levi's Stadium in the San Francisco Bay Area at Santa Clara, "
      "California.")
OTHER = "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy."


def _hits():
    return [Hit(Chunk("n", "n", "normans.txt", OTHER), 0.9), Hit(Chunk("s", "s", "sb.txt", SB), 0.8)]


def test_focus_keeps_the_sentence_that_answers_under_its_passage_number():
    kept, numbers = focus_hits("Where was Super Bowl 50 played?", _hits(), 2)
    assert numbers == [2]
    assert "The game was played on February 7, 2016, at Levi's Stadium" in kept[0].chunk.text
    assert "Carolina Panthers" not in kept[0].chunk.text  # the sentence that matches least is left out
    assert kept[0].chunk.chunk_id == "s"


def test_focus_prompt_numbers_match_the_hits():
    s = load_settings(env={})
    msgs = reader_messages("Which team won Super Bowl 50?", _hits(), s.prompts, s.reader, method="focus")
    user = msgs[-1]["content"]
    assert "[2] " in user and "[1] " not in user and "Normans" not in user
    plain = reader_messages("Which team won Super Bowl 50?", _hits(), s.prompts, s.reader, method="plain")
    assert "[1] The Normans" in plain[-1]["content"]


def test_clean_answer_drops_leaked_context_and_preambles():
    assert clean_answer("No, but it helps.\n\n[1] I don't have to like it") == "No, but it helps."
    assert clean_answer("The answer is Denver Broncos.") == "Denver Broncos."
    assert clean_answer("According to the context, the Broncos won.") == "The Broncos won."
    assert clean_answer("Denver Broncos [1]") == "Denver Broncos [1]"


def test_clean_answer_takes_what_follows_the_answer_is():
    assert clean_answer("The answer to the question is: 300–600 nanometers.") == "300–600 nanometers."
    assert clean_answer("The context provides a detailed explanation. The answer is: Glen Sather.") == "Glen Sather."
    assert clean_answer("The answer is: [1] X happened. The correct answer is: [1] X happened.") == "[1] X happened."
    assert clean_answer("Their answer is unknown to most.") == "Their answer is unknown to most."
