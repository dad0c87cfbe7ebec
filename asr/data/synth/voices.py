"""The voice inventory: which offline English/Mandarin voices this machine has -> :class:`Voice` records, and the
split of speakers into training and held-out (unseen) sets.

Engines: espeak-ng formant voices (accents x variants such as ``en-gb-scotland+f3``), mbrola diphone voices driven by
espeak-ng (``mb-us1``, ``mb-us2``, ``mb-us3``, ``mb-en1`` and the accented ``mb-de1-en``...), festival
(``kal_diphone``, ``us1_mbrola``, ``rab_diphone`` when their festvox packages are installed), flite (``kal``, ``awb``,
``rms``, ``slt``) and pico2wave (``en-US``, ``en-GB``). A :class:`Voice` is one Kaldi speaker; its ``identity`` is the
person behind it, shared across engines that use the same recordings (flite ``kal`` and festival ``kal_diphone`` are
Kal; espeak ``mb-us1`` and festival ``us1_mbrola`` are the mbrola us1 diphones; an espeak variant is the same
"speaker" in every accent). Splits are made per identity, so a held-out test speaker is never heard in training
through another engine.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Voice",
    "VoiceConfig",
    "english_inventory",
    "mandarin_inventory",
    "available_engines",
    "split_identities",
]

ESPEAK_ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
                  "en-us-nyc")  # fmt: skip
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
                   "klatt4", "adam", "linda", "steph")  # fmt: skip
MBROLA_NATIVE = ("us1", "us2", "us3", "en1")
MBROLA_ACCENTED = ("de1", "de2", "de4", "fr1", "fr4", "nl2", "sw2", "pl1")
FLITE_VOICES = {"kal": "kal", "kal16": "kal", "awb": "awb", "rms": "rms", "slt": "slt"}
FESTIVAL_VOICES = {"kal_diphone": "kal", "us1_mbrola": "us1", "rab_diphone": "rab", "ked_diphone": "ked"}
PICO_VOICES = {"en-US": "pico-us", "en-GB": "pico-gb"}
ESPEAK_DATA_DIRS = (Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data"), Path("/usr/share/espeak-ng-data"))
FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices")


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker.

    Attributes:
        engine: ``espeak`` | ``mbrola`` | ``festival`` | ``flite`` | ``pico``.
        name: the engine's voice name (``en-gb+f3``, ``mb-us1``, ``kal_diphone``, ``slt``, ``en-US``).
        identity: the person behind the voice, shared across engines (``kal``, ``us1``, ``espeak-f3``).
        pitch: espeak-ng base pitch 0..99 (espeak and mbrola engines only).
        rate: words per minute for espeak/mbrola; a duration factor (1.0 = normal) for the others.
    """

    engine: str
    name: str
    identity: str
    pitch: int = 50
    rate: float = 175.0

    @property
    def speaker_id(self) -> str:
        """Kaldi speaker id: engine and name with only ``[a-z0-9-]`` (``espeak-en-gb-f3``)."""
        return re.sub(r"[^a-z0-9]+", "-", f"{self.engine}-{self.name}".lower()).strip("-")


@dataclass
class VoiceConfig:
    """Which voices to build.

    Attributes:
        engines: engines to use when present (missing ones are skipped with a note).
        accents_per_variant: espeak accents each espeak variant speaks with (chosen at random, seeded).
        seed: random seed for accent and pitch choices.
        notes: filled by the inventory functions: what was skipped and why (engine or voice not installed).
    """

    engines: tuple[str, ...] = ("espeak", "mbrola", "festival", "flite", "pico")
    accents_per_variant: int = 2
    seed: int = 0
    notes: list[str] = field(default_factory=list)


def _espeak_data_dir() -> Path | None:
    return next((d for d in ESPEAK_DATA_DIRS if d.is_dir()), None)


def available_engines() -> dict[str, bool]:
    """Which engines can run here (binaries on PATH, mbrola voices and festival voices installed)."""
    data = _espeak_data_dir()
    mbrola_ok = shutil.which("mbrola") is not None and Path("/usr/share/mbrola").is_dir() and data is not None
    festival_ok = (
        shutil.which("text2wave") is not None
        and FESTIVAL_VOICE_DIR.is_dir()
        and any(FESTIVAL_VOICE_DIR.rglob("festvox"))
    )
    return {
        "espeak": shutil.which("espeak-ng") is not None and data is not None,
        "mbrola": mbrola_ok,
        "festival": festival_ok,
        "flite": shutil.which("flite") is not None,
        "pico": shutil.which("pico2wave") is not None,
    }


def _flite_voices() -> set[str]:
    try:
        out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return set(out.replace("Voices available:", "").split())


def _festival_voices() -> set[str]:
    return (
        {p.name for p in FESTIVAL_VOICE_DIR.glob("*/*") if p.is_dir()}
        if FESTIVAL_VOICE_DIR.is_dir()
        else set()
    )


def english_inventory(config: VoiceConfig | None = None) -> list[Voice]:
    """All English voices this machine can produce, in a fixed order.

    Returns:
        Voices sorted by ``speaker_id``; ``config.notes`` lists what was skipped and why.
    """
    config = config or VoiceConfig()
    rng = random.Random(config.seed)
    have = available_engines()
    voices: list[Voice] = []
    for engine in config.engines:
        if not have.get(engine, False):
            config.notes.append(f"engine {engine} not available here: skipped")
    if "espeak" in config.engines and have["espeak"]:
        for variant in ESPEAK_VARIANTS:
            for accent in rng.sample(ESPEAK_ACCENTS, config.accents_per_variant):
                voices.append(Voice("espeak", f"{accent}+{variant}", f"espeak-{variant}", pitch=rng.randint(35, 65),
                                    rate=float(rng.randint(150, 185))))  # fmt: skip
    if "mbrola" in config.engines and have["mbrola"]:
        missing = [db for db in MBROLA_NATIVE + MBROLA_ACCENTED if not Path("/usr/share/mbrola", db).exists()]
        if missing:
            config.notes.append(f"mbrola voices not installed, skipped: {' '.join(missing)} (apt-get install "
                                f"{' '.join('mbrola-' + db for db in missing)})")  # fmt: skip
        for db in MBROLA_NATIVE + MBROLA_ACCENTED:
            if db in missing:
                continue
            name = f"mb-{db}" if db in MBROLA_NATIVE else f"mb-{db}-en"
            voices.append(
                Voice("mbrola", name, db, pitch=rng.randint(40, 60), rate=float(rng.randint(150, 175)))
            )
    if "festival" in config.engines and have["festival"]:
        installed = _festival_voices()
        for name, identity in FESTIVAL_VOICES.items():
            if name in installed:
                voices.append(Voice("festival", name, identity))
    if "flite" in config.engines and have["flite"]:
        installed = _flite_voices()
        for name, identity in FLITE_VOICES.items():
            if name in installed:
                voices.append(Voice("flite", name, identity))
    if "pico" in config.engines and have["pico"]:
        for name, identity in PICO_VOICES.items():
            voices.append(Voice("pico", name, identity))
    return sorted(voices, key=lambda v: v.speaker_id)


def mandarin_inventory(config: VoiceConfig | None = None) -> list[Voice]:
    """Mandarin voices: espeak-ng ``cmn-latn-pinyin`` with each variant (reading pinyin with tone numbers) and the
    mbrola ``cn1`` diphones through espeak-ng when installed.
    """
    config = config or VoiceConfig()
    rng = random.Random(config.seed)
    have = available_engines()
    voices: list[Voice] = []
    if have["espeak"]:
        for variant in ESPEAK_VARIANTS:
            voices.append(Voice("espeak", f"cmn-latn-pinyin+{variant}", f"espeak-{variant}",
                                pitch=rng.randint(35, 65), rate=float(rng.randint(140, 170))))  # fmt: skip
    else:
        config.notes.append("espeak-ng not available: no Mandarin voices")
    return sorted(voices, key=lambda v: v.speaker_id)


def split_identities(voices: list[Voice], unseen_fraction: float, seed: int) -> tuple[set[str], set[str]]:
    """Split identities into (seen, unseen), stratified by each identity's first engine.

    Every engine with at least three identities gives at least one to the unseen side, so the unseen test set hears
    each kind of synthesis. An identity spoken by several engines goes wholly to one side.

    Args:
        voices: the inventory.
        unseen_fraction: share of identities held out (0 holds none out).
        seed: random seed.

    Returns:
        ``(seen, unseen)`` sets of identities.
    """
    first_engine: dict[str, str] = {}
    for v in voices:
        first_engine.setdefault(v.identity, v.engine)
    rng = random.Random(seed)
    unseen: set[str] = set()
    for engine in sorted(set(first_engine.values())):
        ids = sorted(i for i, e in first_engine.items() if e == engine)
        k = round(len(ids) * unseen_fraction)
        if unseen_fraction > 0 and len(ids) >= 3:
            k = max(k, 1)
        k = min(k, len(ids) - 1) if len(ids) > 1 else 0
        unseen.update(rng.sample(ids, k))
    return set(first_engine) - unseen, unseen
