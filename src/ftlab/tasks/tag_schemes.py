"""Entity tag schemes: which one a data set's tags follow, and how seqeval reads them.

A token-classification task trains on the data's own tags, so its predictions come back in
the data's scheme; only scoring, entity spans and `label_all_tokens` need to know it.
seqeval knows IOB1, IOB2, IOE1, IOE2, IOBES and BILOU; BMES (Chinese NER's letters,
B-/M-/E-/S-) and BILOU are IOBES under other letters, renamed on the way into seqeval
(seqeval's IOBES rules then score them; its lenient mode does not know M-, L- or U-).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from ftlab.errors import FtlabError

log = logging.getLogger(__name__)

AUTO = "auto"
SCHEMES = ("IOB1", "IOB2", "IOE1", "IOE2", "IOBES", "BMES", "BILOU")
# the prefix letters each scheme may use (besides the bare O)
LETTERS = {
    "IOB1": "BI",
    "IOB2": "BI",
    "IOE1": "EI",
    "IOE2": "EI",
    "IOBES": "BIES",
    "BMES": "BMES",
    "BILOU": "BILU",
}
_AS_IOBES = {"BMES": {"M": "I"}, "BILOU": {"L": "E", "U": "S"}}


def split_tag(tag: str) -> tuple[str, str]:
    """`B-PER` -> (`B`, `PER`); `O` (or a tag without a prefix) -> (`O`, ``)."""
    letter, dash, entity_type = tag.partition("-")
    return (letter, entity_type) if dash and len(letter) == 1 else ("O", "")


def check_scheme(value: str) -> None:
    if value != AUTO and value not in SCHEMES:
        raise FtlabError(
            f"task.tag_scheme must be auto or one of {', '.join(SCHEMES)}, got {value!r}"
        )


def resolve(
    setting: str, label_list: Sequence[str], sequences: Iterable[Sequence[str]] | None = None
) -> str:
    """The scheme of the tags: `setting` itself (checked against the tags' letters), or with
    `auto` detected from the letters and, where only the order tells (IOB1 or IOB2, IOE1 or
    IOE2), from `sequences` of tags; without them the common one (IOB2, IOE2)."""
    letters = {split_tag(tag)[0] for tag in label_list} - {"O"}
    if setting != AUTO:
        foreign = sorted(t for t in label_list if split_tag(t)[0] not in LETTERS[setting] + "O")
        if foreign:
            raise FtlabError(
                f"task.tag_scheme={setting} but the tags include {', '.join(foreign[:4])}; "
                f"set task.tag_scheme to the data's scheme ({detect(letters, sequences)}?) or auto"
            )
        return setting
    return detect(letters, sequences)


def detect(letters: set[str], sequences: Iterable[Sequence[str]] | None) -> str:
    if "M" in letters:
        return "BMES"
    if letters & {"L", "U"}:
        return "BILOU"
    if "S" in letters or {"B", "E"} <= letters:
        return "IOBES"
    if "E" in letters:  # IOE is IOB read backwards, E- for B-
        reversed_rows = None if sequences is None else (list(reversed(s)) for s in sequences)
        return "IOE1" if _inside_starts(reversed_rows, "E") else "IOE2"
    return "IOB1" if _inside_starts(sequences, "B") else "IOB2"


def _inside_starts(sequences: Iterable[Sequence[str]] | None, boundary: str) -> bool:
    """Whether entities start with I- (IOB1: B- only between two entities of one type):
    some entity starts with I- and none with `boundary`. Data with both (an IOB2 file with
    slips) counts as the common scheme."""
    inside = marked = 0
    for tags in sequences or []:
        previous = ""
        for tag in tags:
            letter, entity_type = split_tag(tag)
            if letter != "O" and entity_type != previous:
                inside += letter == "I"
                marked += letter == boundary
            previous = entity_type
    if inside and marked:
        log.info(
            "tags start %d entities with I- and %d with %s-: read as IOB2/IOE2",
            inside,
            marked,
            boundary,
        )
    return bool(inside) and not marked


def as_seqeval(sequences: Iterable[Sequence[str]], scheme: str) -> list[list[str]]:
    """The tags in letters seqeval knows (BMES and BILOU renamed to IOBES's)."""
    rename = _AS_IOBES.get(scheme)
    if rename is None:
        return [list(tags) for tags in sequences]
    return [[_renamed(tag, rename) for tag in tags] for tags in sequences]


def _renamed(tag: str, rename: dict[str, str]) -> str:
    letter, entity_type = split_tag(tag)
    return f"{rename[letter]}-{entity_type}" if letter in rename else tag


def seqeval_scheme(scheme: str) -> str:
    """seqeval's name of the scheme, for tags passed through `as_seqeval`."""
    return "IOBES" if scheme in _AS_IOBES else scheme


def inside_letter(scheme: str) -> str:
    """The letter of an entity's inner tokens (`label_all_tokens`: a word's later pieces)."""
    return "M" if scheme == "BMES" else "I"


def entity_spans(tags: Sequence[str], scheme: str) -> list[tuple[str, int, int]]:
    """(type, first, last) of each entity in one sentence's tags, by conlleval's rules
    (seqeval's lenient chunking; IOB1 and IOB2 read alike there)."""
    from seqeval.metrics.sequence_labeling import get_entities

    return get_entities(as_seqeval([tags], scheme)[0])
