"""Citations found after generation: sentence-to-passage alignment and the check of model-written markers."""

import numpy as np

from ragtune.config import CitationSettings
from ragtune.generate.citations import attribute
from ragtune.types import Chunk, Hit

P1 = ("The Amazon river flows through Brazil. It is the largest river by discharge volume of water in the "
      "world.")
P2 = ("Super Bowl 50 was played at Levi's Stadium. Denver linebacker Von Miller was named Super Bowl MVP, "
      "recording five solo tackles. The Broncos won their third title.")
P3 = "Photosynthesis converts light energy into chemical energy in plants."


def _hits():
    return [Hit(Chunk(f"c{i}", f"d{i}", f"/src/{i}.txt", t), 1.0 - i / 10) for i, t in enumerate((P1, P2, P3))]


def test_sentence_copied_from_passage_2_gets_2_with_its_span():
    answer = "Denver linebacker Von Miller was named Super Bowl MVP."
    cites, sents = attribute(answer, _hits())
    assert [c.cited for c in cites] == [False, True, False]
    c = cites[1]
    assert c.method == "attributed" and sents[0].citation == 2 and sents[0].method == "attributed"
    (start, end), = c.spans
    assert P2[start:end] == "Denver linebacker Von Miller was named Super Bowl MVP"


def test_short_answer_is_attributed_to_the_sentence_that_holds_it():
    cites, sents = attribute("Von Miller", _hits())
    assert sents[0].citation == 2
    (start, end), = cites[1].spans
    assert "Von Miller" in P2[start:end] and "Levi's" not in P2[start:end]


def test_unrelated_sentence_gets_no_citation():
    cites, sents = attribute("Kangaroos carry their young in a pouch.", _hits())
    assert not any(c.cited for c in cites)
    assert sents[0].citation is None and sents[0].method == ""


def test_wrong_model_written_marker_is_flagged_and_the_right_passage_attributed():
    answer = "Von Miller was named Super Bowl MVP [1]."
    cites, sents = attribute(answer, _hits())
    assert sents[0].written == [1] and sents[0].unsupported_markers == [1]
    assert cites[0].method == "unsupported" and not cites[0].cited
    assert cites[1].cited and cites[1].method == "attributed"


def test_right_model_written_marker_is_kept_as_the_models():
    cites, sents = attribute("Von Miller was named Super Bowl MVP [2].", _hits())
    assert sents[0].method == "model" and sents[0].unsupported_markers == []
    assert cites[1].method == "model"


def test_two_sentences_cite_two_passages():
    answer = "The Amazon flows through Brazil. Plants turn light energy into chemical energy."
    cites, sents = attribute(answer, _hits())
    assert [s.citation for s in sents] == [1, 3]


def test_attribution_off_only_checks_written_markers():
    cfg = CitationSettings(attribute=False)
    cites, sents = attribute("Von Miller was named Super Bowl MVP.", _hits(), cfg)
    assert not any(c.cited for c in cites)


def test_embedder_similarity_rescues_a_paraphrase_with_weak_overlap():
    answer = "Miller got the most valuable player award as a defender."
    strict = CitationSettings(use_embedder=False)
    assert attribute(answer, _hits(), strict)[1][0].citation is None

    def embed(texts):  # a stand-in for the embedder: vectors that make the MVP sentence similar
        return np.array([[1.0, 0.0] if ("Miller" in t) else [0.0, 1.0] for t in texts])

    cfg = CitationSettings(similarity_overlap=0.1, min_similarity=0.9)
    sents = attribute(answer, _hits(), cfg, embed)[1]
    assert sents[0].citation == 2 and sents[0].similarity == 1.0


def test_no_answer_sentence_is_not_cited():
    cites, sents = attribute("I don't know.", _hits(), no_answer="I don't know.")
    assert not any(c.cited for c in cites)


def test_the_question_words_do_not_decide_which_passage_supports_the_answer():
    # Passage 1 shares more of the restated topic words; only passage 2 holds what the answer adds.
    topic = [Hit(Chunk("a", "a", "/a.txt", "The Super Bowl 50 halftime show at Levi's Stadium drew a crowd."), 0.9),
             Hit(Chunk("b", "b", "/b.txt", "Coldplay headlined the Super Bowl halftime show."), 0.8)]
    q = "Who headlined the Super Bowl 50 halftime show at Levi's Stadium?"
    answer = "The Super Bowl 50 halftime show at Levi's Stadium was headlined by Coldplay."
    assert attribute(answer, topic)[1][0].citation == 1  # without the question, topic words win
    cites, sents = attribute(answer, topic, question=q)
    assert sents[0].citation == 2 and cites[1].cited and not cites[0].cited


def test_an_answer_matches_its_passage_through_possessives_and_curly_quotes():
    """Measured on SQuAD (tune split): "Gandhi [1]" over "Gandhi's acts ..." and "Resign [1]" over
    '... Thoreau had advised, “Resign.”' were flagged as unsupported, their markers dropped."""
    hits = [Hit(Chunk("c1", "d1", "/src/1.txt", "Gandhi's acts have been described as revolutionary civil "
                      "disobedience."), 1.0),
            Hit(Chunk("c2", "d2", "/src/2.txt", "When a confused taxman had wondered aloud about how to handle "
                      "his refusal to pay, Thoreau had advised, \u201cResign.\u201d"), 0.9)]
    cites, sents = attribute("Gandhi [1]", hits)
    assert sents[0].citation == 1 and sents[0].method == "model" and sents[0].unsupported_markers == []
    cites, sents = attribute("Resign", hits)
    assert sents[0].citation == 2 and sents[0].method == "attributed"
    (start, end), = cites[1].spans
    assert "Resign" in cites[1].text[start:end]
