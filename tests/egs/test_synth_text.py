"""Text normalization for synthetic speech: hand-worked cases of the rules a transcript relies on."""

from __future__ import annotations

import pytest

from asr.data.synth.text import (
    TextFilter,
    collect_sentences,
    iter_fortune_entries,
    normalize_sentence,
    number_to_words,
    split_sentences,
)

LEX = set(
    "a i the cat sat on mat mister smith paid one hundred twenty three dollars in nineteen eighty four it's don't "
    "was first third twenty second and percent of people like dogs two thousand five hello world we met at eleven "
    "doctor who is here".split()
)


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (13, "thirteen"),
        (40, "forty"),
        (101, "one hundred one"),
        (999, "nine hundred ninety nine"),
        (2005, "two thousand five"),
        (1_000_001, "one million one"),
        (123_456, "one hundred twenty three thousand four hundred fifty six"),
    ],
)
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_number_out_of_range():
    with pytest.raises(ValueError):
        number_to_words(-1)


def test_normalize_expands_titles_numbers_years_and_keeps_prosody():
    raw = "Mr. Smith paid $123 dollars in 1984, it's 50% of people!"
    words, spoken = normalize_sentence(raw, LEX | {"fifty"}, TextFilter(max_words=30))
    # "$" is not a word: the sentence keeps the number and drops the symbol
    assert (
        words
        == "mister smith paid one hundred twenty three dollars in nineteen eighty four it's fifty percent of people"
    )
    assert spoken.endswith("people!")
    assert "four," in spoken  # the comma is kept for the voices, not in the transcript


def test_normalize_ordinals_and_year_2005():
    assert (
        normalize_sentence("The 3rd cat sat on the 22nd mat.", LEX)[0]
        == "the third cat sat on the twenty second mat"
    )
    assert normalize_sentence("We met at 11 in 2005.", LEX)[0] == "we met at eleven in two thousand five"


@pytest.mark.parametrize(
    "raw",
    [
        "The IBM cat sat on the mat.",  # acronym a voice would spell
        "The cat sat on the zyzzyva.",  # word not in the lexicon
        "Hello.",  # too short
        "The cat sat on 3.14 mats.",  # decimal
        "Le chat était là, the cat sat.",  # non-ASCII letters
        "The cat sat on x mat.",  # stray single letter
    ],
)
def test_normalize_rejects(raw):
    assert normalize_sentence(raw, LEX) is None


def test_length_filter():
    flt = TextFilter(min_words=2, max_words=3)
    assert normalize_sentence("Hello world.", LEX, flt) == ("hello world", "hello world.")
    assert normalize_sentence("The cat sat on the mat.", LEX, flt) is None


def test_split_sentences_keeps_titles_together():
    assert split_sentences("Dr. Who is here.  The cat\nsat on the mat! Was it? yes") == [
        "Dr. Who is here.",
        "The cat sat on the mat!",
        "Was it? yes",
    ]


def test_fortune_entries_and_collection(tmp_path):
    fortunes = tmp_path / "fortunes"
    fortunes.write_text("The cat sat on the mat.\n\t\t-- Somebody Famous\n%\nHello world.  The cat sat on the mat.\n"
                        "%\nI don't like dogs.\n")  # fmt: skip
    entries = list(iter_fortune_entries(fortunes))
    assert entries[0].strip() == "The cat sat on the mat."  # attribution dropped
    assert len(entries) == 3
    got = collect_sentences([fortunes], LEX, TextFilter(min_words=2))
    assert [s.words for s in got] == [
        "the cat sat on the mat",
        "hello world",
        "i don't like dogs",
    ]  # deduplicated


def test_wordnet_examples_are_the_quoted_sentences_of_the_glosses(tmp_path):
    from asr.data.synth.text import iter_wordnet_examples

    data = tmp_path / "data.verb"
    data.write_text(
        '  1 This software and database is provided "AS IS" and Princeton\n'
        "00001740 29 v 04 breathe 0 take_a_breath 0 | draw air into, and expel out of, the lungs; "
        '"I can breathe better when the air is clean"; "The patient is respiring"\n'
        "00002724 29 v 01 choke 0 002 @ 00001740 v 0000 | breathe with great difficulty\n"
    )
    assert list(iter_wordnet_examples(data)) == [
        "I can breathe better when the air is clean",
        "The patient is respiring",
    ]


def test_wordnet_glosses_are_the_definitions_without_examples_or_notes(tmp_path):
    from asr.data.synth.text import GlossSource, collect_sentences, iter_wordnet_glosses

    data = tmp_path / "data.verb"
    data.write_text(
        '  1 This software and database is provided "AS IS" and Princeton\n'
        "00001740 29 v 04 breathe 0 take_a_breath 0 | draw air into, and expel out of, the lungs; "
        '"I can breathe better when the air is clean"; "The patient is respiring"\n'
        "00002724 29 v 01 choke 0 002 @ 00001740 v 0000 | (medicine) breathe with great difficulty; "
        "take air in\n"
    )
    assert list(iter_wordnet_glosses(data)) == [
        "draw air into, and expel out of, the lungs",
        "breathe with great difficulty",
        "take air in",
    ]
    lex = set("draw air into and expel out of the lungs breathe with great difficulty take in".split())
    got = collect_sentences([GlossSource(data)], lex, TextFilter(min_words=3))
    assert [(s.words, s.source) for s in got] == [
        ("draw air into and expel out of the lungs", "data.verb:glosses"),
        ("breathe with great difficulty", "data.verb:glosses"),
        ("take air in", "data.verb:glosses"),
    ]


def test_unknown_text_source_is_named():
    from asr.data.synth.text import english_sources
    from asr.errors import CifstError

    with pytest.raises(CifstError, match="unknown text source 'bible'"):
        english_sources(["bible"])
