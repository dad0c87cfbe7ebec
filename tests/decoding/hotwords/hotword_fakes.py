"""A small stand-in for the model tokenizer (``asr.text.tokenizer`` interface): CJK characters are tokens, Latin
words are split greedily into sentencepiece-style pieces with ``▁`` marking a word start."""

from __future__ import annotations

from asr.text.symbol_table import SymbolTable

PIECES = [
    "▁cat",
    "▁con",
    "cat",
    "en",
    "ate",
    "▁new",
    "▁york",
    "▁the",
    "▁c",
    "at",
    "a",
    "t",
    "c",
    "o",
    "n",
    "e",
    "▁",
    "▁a",
    "▁zeta",
    "▁q",
]
CJK = list("阳光保险定我们在北京天气很好")


class FakeTokenizer:
    """Greedy longest-piece tokenizer over a fixed table; ``strict`` raises on characters it cannot map."""

    def __init__(self, strict_kwarg: bool = True):
        self.symbols = SymbolTable(["<blk>", "<unk>", "<sos/eos>", *PIECES, *CJK])
        self._latin = sorted((p for p in PIECES), key=len, reverse=True)
        if not strict_kwarg:  # the variant without a strict= parameter maps unknowns to <unk>
            self.encode = lambda text: self._encode(text, False)

    def unknown_pieces(self, text: str) -> list[str]:
        known = set(CJK) | {c for p in PIECES for c in p}
        return [c for c in text if not c.isspace() and c not in known]

    def tokenize(self, text: str) -> list[str]:
        return [self.symbols[i] if i != 1 else "?" for i in self._encode(text, False)]

    def _encode(self, text: str, strict: bool) -> list[int]:
        out: list[int] = []
        for word in text.split():
            buf = "▁"
            for ch in word:
                if ch in CJK:
                    if buf not in ("▁", ""):
                        out.extend(self._latin_word(buf, strict))
                    buf = ""
                    out.append(self.symbols[ch])
                else:
                    buf += ch
            if buf not in ("▁", ""):
                out.extend(self._latin_word(buf, strict))
        return out

    def _latin_word(self, word: str, strict: bool) -> list[int]:
        ids, i = [], 0
        while i < len(word):
            for p in self._latin:
                if word.startswith(p, i):
                    ids.append(self.symbols[p])
                    i += len(p)
                    break
            else:
                if strict:
                    raise ValueError(f"character '{word[i]}' is not in tokens.txt")
                ids.append(1)
                i += 1
        return ids

    def encode(self, text: str, strict: bool = False) -> list[int]:
        return self._encode(text, strict)

    def decode(self, ids: list[int]) -> str:
        return "".join(self.symbols[i] for i in ids).replace("▁", " ").strip()

    def is_word_start(self, id: int) -> bool:
        s = self.symbols[id]
        return s.startswith("▁") or s in CJK
