"""Mandarin text for synthesis: fortunes-zh parsing and pinyin for espeak-ng's cmn-latn-pinyin voice."""

from __future__ import annotations

import shutil

import pytest

from asr.data.synth.mandarin import collect_mandarin_sentences, to_pinyin


def test_pinyin_has_tone_numbers_and_v_for_u_umlaut():
    assert to_pinyin("你好绿") == ["ni3", "hao3", "lv4"]
    assert to_pinyin("的") == ["de5"]  # neutral tone written 5


def test_collect_skips_titles_latin_and_lengths(tmp_path):
    src = tmp_path / "chinese"
    src.write_text(
        "\x1b[32m《静夜思》\x1b[m\n\x1b[33m作者：李白\x1b[m\n床前明月光，疑是地上霜。\n%\n"
        "我们使用 Debian 系统。\n%\n太短。\n%\n举头望明月，低头思故乡！\n床前明月光，疑是地上霜。\n",
        encoding="utf-8",
    )
    got = collect_mandarin_sentences([src], min_chars=4, max_chars=20)
    assert [s.words for s in got] == ["床 前 明 月 光 疑 是 地 上 霜", "举 头 望 明 月 低 头 思 故 乡"]
    assert got[0].spoken == "chuang2 qian2 ming2 yue4 guang1, yi2 shi4 di4 shang4 shuang1."


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_pinyin_voice_gives_one_word_time_per_character():
    from asr.data.synth.engines import synthesize
    from asr.data.synth.voices import Voice

    syn = synthesize(Voice("espeak", "cmn-latn-pinyin+f2", "espeak-f2"), "ni3 hao3, shi4 jie4.", 4)
    assert syn.timing == "measured" and len(syn.word_times) == 4
    starts = [s for s, _ in syn.word_times]
    assert starts == sorted(starts) and len(set(starts)) == 4
