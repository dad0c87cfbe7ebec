"""Voice inventory and the speaker split by identity."""

from __future__ import annotations

import shutil

import pytest

from asr.data.synth.voices import Voice, english_inventory, split_identities


def _voices():
    out = [Voice("espeak", f"en-us+m{i}", f"espeak-m{i}") for i in range(1, 9)]
    out += [Voice("flite", "kal", "kal"), Voice("festival", "kal_diphone", "kal"), Voice("flite", "slt", "slt"),
            Voice("flite", "awb", "awb"), Voice("mbrola", "mb-us1", "us1"), Voice("festival", "us1_mbrola", "us1")]  # fmt: skip
    return out


def test_split_keeps_an_identity_on_one_side_and_covers_engines():
    voices = _voices()
    seen, unseen = split_identities(voices, 0.25, seed=3)
    assert seen.isdisjoint(unseen)
    assert seen | unseen == {v.identity for v in voices}
    # the espeak group (8 identities) gives 2 to unseen; every group with >= 3 identities gives at least one
    assert len([i for i in unseen if i.startswith("espeak")]) == 2
    assert unseen & {"kal", "slt", "awb", "us1"}
    assert split_identities(voices, 0.25, seed=3) == (seen, unseen)  # deterministic


def test_split_with_zero_fraction_holds_out_nothing():
    seen, unseen = split_identities(_voices(), 0.0, seed=0)
    assert unseen == set()


def test_speaker_id_is_kaldi_safe():
    assert Voice("espeak", "en-gb-x-rp+f3", "espeak-f3").speaker_id == "espeak-en-gb-x-rp-f3"
    assert Voice("festival", "us1_mbrola", "us1").speaker_id == "festival-us1-mbrola"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_inventory_on_this_machine_is_sorted_and_unique():
    voices = english_inventory()
    ids = [v.speaker_id for v in voices]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {v.engine for v in voices} >= {"espeak"}
