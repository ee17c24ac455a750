"""Dialogue data as chat messages: the layouts people keep question / answer and chat data
in, mapped onto one (`[{"role", "content"}, ...]`), checked, and the chat template that
renders them for a model.

Layouts (`task.data_format`): `messages` (a list of role / content turns, multi-turn, an
optional system turn), `prompt_completion` (two text columns: a question and its answer),
`alpaca` (instruction / input / output) and `sharegpt` (`conversations` of from / value
turns: human, gpt, system); `auto` picks by the columns present.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datasets import Dataset

from ftlab.errors import FtlabError

Messages = list[dict[str, str]]  # one conversation: {"role", "content"} turns
ROLES = ("system", "user", "assistant")
LAYOUTS = ("auto", "messages", "prompt_completion", "alpaca", "sharegpt")
SHAREGPT_COLUMN = "conversations"
SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}  # its "from"s
TEMPLATES_DIR = Path(__file__).parent / "chat_templates"  # named templates: <name>.jinja


def detect_layout(columns: list[str], messages_column: str, prompt_column: str) -> str:
    """The layout of a table from its columns (`task.data_format=auto`)."""
    if messages_column in columns:
        return "messages"
    if SHAREGPT_COLUMN in columns:
        return "sharegpt"
    if "instruction" in columns and "output" in columns:
        return "alpaca"
    if prompt_column in columns:
        return "prompt_completion"
    raise FtlabError(
        f"the data's columns ({', '.join(columns)}) are none of the dialogue layouts: a "
        f"'{messages_column}' column of chat turns, '{SHAREGPT_COLUMN}' (ShareGPT), "
        f"instruction / input / output (alpaca) or '{prompt_column}' with its answer; set "
        "task.messages_column, task.prompt_column / task.completion_column to yours"
    )


def layout_columns(
    layout: str, messages_column: str, prompt_column: str, completion_column: str
) -> list[str]:
    """The columns a table of `layout` must have."""
    return {
        "messages": [messages_column],
        "sharegpt": [SHAREGPT_COLUMN],
        "alpaca": ["instruction", "output"],
        "prompt_completion": [prompt_column, completion_column],
    }[layout]


def to_messages(
    row: dict[str, Any],
    layout: str,
    columns: tuple[str, str, str],
    system_prompt: str | None,
) -> Messages:
    """One row of `layout` as chat messages, with `system_prompt` first where the
    conversation has no system turn of its own. `columns`: messages, prompt, completion."""
    messages_column, prompt_column, completion_column = columns
    if layout == "messages":
        messages = _parsed(row[messages_column])
    elif layout == "sharegpt":
        turns = _parsed(row[SHAREGPT_COLUMN])
        messages = [_from_sharegpt(t) for t in turns] if isinstance(turns, list) else turns
    elif layout == "alpaca":
        extra = row.get("input") or ""
        question = f"{row['instruction']}\n\n{extra}" if extra else row["instruction"]
        messages = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": row["output"]},
        ]
    else:
        messages = [
            {"role": "user", "content": row[prompt_column]},
            {"role": "assistant", "content": row[completion_column]},
        ]
    if not isinstance(messages, list):
        return messages  # check_conversation names it
    messages = [
        {"role": m.get("role"), "content": m.get("content")} if isinstance(m, dict) else m
        for m in messages
    ]
    first = messages[0] if messages else None
    if system_prompt and not (isinstance(first, dict) and first["role"] == "system"):
        messages = [{"role": "system", "content": system_prompt}, *messages]
    return messages


def _from_sharegpt(turn: Any) -> Any:
    """A ShareGPT turn ({from, value}) as a chat message; anything else as it is
    (check_conversation names it)."""
    if not isinstance(turn, dict):
        return turn
    role = turn.get("from")
    return {"role": SHAREGPT_ROLES.get(role, role), "content": turn.get("value")}


def _parsed(value: Any) -> Any:
    """A conversation cell: a list of turns, or that list as JSON text (a csv cell)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value  # check_conversation names it
    return value


def check_conversation(messages: Any, where: str, needs_answer: bool) -> None:
    """A list of turns with known roles and text content (an assistant turn last, where
    `needs_answer`: what is trained on and scored)."""
    if not isinstance(messages, list) or not messages:
        raise FtlabError(
            f"{where}: an empty conversation ({messages!r}); every row needs at least a user "
            "turn and its answer"
        )
    for turn in messages:
        if not isinstance(turn, dict) or turn.get("role") not in ROLES:
            role = turn.get("role") if isinstance(turn, dict) else turn
            raise FtlabError(
                f"{where}: a turn with role {role!r}; roles are {', '.join(ROLES)} "
                "(ShareGPT's human / gpt: set task.data_format=sharegpt)"
            )
        if not isinstance(turn.get("content"), str):
            raise FtlabError(
                f"{where}: a {turn['role']} turn holds {turn.get('content')!r}, not a text"
            )
    if needs_answer and messages[-1]["role"] != "assistant":
        raise FtlabError(
            f"{where}: the conversation ends with a {messages[-1]['role']} turn; training "
            "data ends with the assistant's answer"
        )
    if not any(turn["role"] == "user" for turn in messages):
        raise FtlabError(f"{where}: the conversation has no user turn")


def conversations(
    rows: Dataset,
    layout: str,
    columns: tuple[str, str, str],
    system_prompt: str | None,
    where: str,
    needs_answer: bool = True,
) -> list[Messages]:
    """Every row of `rows` as checked chat messages."""
    result = []
    for index, row in enumerate(rows):
        messages = to_messages(row, layout, columns, system_prompt)
        check_conversation(messages, f"{where}, row {index}", needs_answer)
        result.append(messages)
    return result


def split_last_answer(messages: Messages) -> tuple[Messages, str]:
    """(the conversation up to its last answer, that answer): a prompt and its reference."""
    return messages[:-1], messages[-1]["content"]


# -- chat templates ----------------------------------------------------------------------
def named_templates() -> list[str]:
    return sorted(path.stem for path in TEMPLATES_DIR.glob("*.jinja"))


def read_template(value: str) -> str:
    """`task.chat_template`: the name of one shipped with ftlab, or a .jinja file."""
    path = TEMPLATES_DIR / f"{value}.jinja"
    if not path.is_file():
        path = Path(value).expanduser()
    if not path.is_file():
        raise FtlabError(
            f"task.chat_template={value}: neither a template ftlab ships "
            f"({', '.join(named_templates())}) nor a .jinja file"
        )
    return path.read_text(encoding="utf-8")


def use_chat_template(tokenizer: Any, chosen: str | None, source: str) -> None:
    """The tokenizer renders chats with `chosen` (task.chat_template), else its own; a
    model without one needs one named (saved with the model, so prediction renders alike)."""
    if chosen:
        tokenizer.chat_template = read_template(chosen)
    elif not tokenizer.chat_template:
        raise FtlabError(
            f"model '{source}' has no chat template; set task.chat_template to one ftlab "
            f"ships ({', '.join(named_templates())}) or to a .jinja file"
        )


def training_template(tokenizer: Any) -> str | None:
    """A template that marks the assistant's tokens (`{% generation %}`), for answer-only
    labels: the tokenizer's own, TRL's training version of a known one, or None (TRL
    knows no version of this template: only the last answer can be told apart)."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tokenizer.chat_template
    if isinstance(template, str) and has_generation_markers(template):
        return template
    try:
        return get_training_chat_template(tokenizer) or template
    except ValueError:  # not a template TRL has a training version of
        return None
