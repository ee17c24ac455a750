"""Task kind sft: dialogue fine-tuning of decoders on TRL's SFTTrainer, with the tiny Qwen2
stand-in (Qwen2.5's ChatML template, as the checkpoint ships it) and the tiny Llama 3
stand-in (no pad token, no chat template: ftlab's `plain` one)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from datasets import Dataset

from ftlab.config.targets import build_task
from ftlab.errors import FtlabError
from ftlab.records import read_json
from ftlab.tasks.alignment import IGNORE
from ftlab.tasks.conversations import read_template, to_messages
from tests.conftest import write_jsonl
from tests.helpers import FAST, in_process

CHAT = [
    {"role": "user", "content": "Where is my parcel?"},
    {"role": "assistant", "content": "It left the depot today."},
    {"role": "user", "content": "Thanks a lot"},
    {"role": "assistant", "content": "You are welcome."},
]
# a tiny random decoder memorises 16 replies in 200 steps at this rate (16 of 16 measured;
# 9 of 16 in 120 steps, and fewer with Qwen's long default system prompt)
MEMORISE = [
    "trainer.max_steps=200",
    "trainer.per_device_train_batch_size=16",
    "optimizer.learning_rate=1e-2",
    "task.system_prompt=Answer.",
    "trainer.logging_steps=10",
    "task.max_new_tokens=10",
]


def _task(**fields: object):
    from omegaconf import OmegaConf

    config = {"_target_": "ftlab.tasks.sft.SupervisedFineTuningTask", "name": "chat", **fields}
    return build_task(OmegaConf.create(config))


def _tokenizer(directory: Path, template: str | None = None):
    """The stand-in's tokenizer as a run prepares it (its family's pad token), with
    `template` (task.chat_template) where given."""
    from transformers import AutoConfig, AutoTokenizer

    from ftlab.models.family import prepare_tokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    prepare_tokenizer(tokenizer, AutoConfig.from_pretrained(directory), None)
    if template:
        tokenizer.chat_template = read_template(template)
    return tokenizer


# a few steps, nothing saved or evaluated on the way
QUICK = [
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
]
# local files of (prompt, completion) pairs, each split the same file
PAIRS = ["task.data_format=auto", "task.prompt_column=prompt", "task.completion_column=completion"]


def _sft_run(run_dir: Path, model: Path, *overrides: str, env: dict | None = None) -> Path:
    """`python -m ftlab.run task=movie_chat` (in this process) into `run_dir`; it completes."""
    done = in_process(
        "ftlab.run",
        *FAST,
        *QUICK,
        "task=movie_chat",
        f"model.name_or_path={model}",
        f"hydra.run.dir={run_dir}",
        *overrides,
        cwd=run_dir.parent,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir


def _pair_files(data: Path) -> list[str]:
    return [*PAIRS, *[f"task.{split}_file={data}" for split in ("train", "validation", "test")]]


def _labelled_spans(ids: list[int], labels: list[int]) -> list[list[int]]:
    """The runs of consecutive positions that carry a label."""
    spans: list[list[int]] = []
    previous = False
    for token, label in zip(ids, labels, strict=True):
        if label != IGNORE:
            assert label == token
            if not previous:
                spans.append([])
            spans[-1].append(token)
        previous = label != IGNORE
    return spans


# -- labels: the answers and their end of turn, nothing else -----------------------------
def test_labels_are_the_answers_and_their_end_of_turn(tiny_family) -> None:
    """ChatML (TRL's training version of Qwen2.5's template): each labelled span is one
    answer with its <|im_end|>; the user turns, system prompt and headers carry none."""
    tokenizer = _tokenizer(tiny_family("qwen2"))
    encoded = _task().encode(tokenizer, {"messages": [CHAT]})
    ids, labels = encoded["input_ids"][0], encoded["labels"][0]
    spans = [tokenizer.decode(span).strip() for span in _labelled_spans(ids, labels)]
    assert spans == ["It left the depot today.<|im_end|>", "You are welcome.<|im_end|>"]
    unlabelled = tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab == IGNORE])
    assert "Where is my parcel?" in unlabelled and "It left" not in unlabelled
    # negative control: answers_only=false trains on every token
    everything = _task(answers_only=False).encode(tokenizer, {"messages": [CHAT]})
    assert everything["labels"][0] == everything["input_ids"][0]


def test_chinese_answers_are_labelled_and_scored(tiny_family) -> None:
    """A Chinese conversation (byte-level BPE: the characters as bytes) is labelled the same
    way; its reply scores by characters (a matching pair: ROUGE-1 above 0)."""
    from ftlab.tasks.sft import text_scores

    tokenizer = _tokenizer(tiny_family("qwen2"))
    chat = [
        {"role": "user", "content": "快递到哪了？"},
        {"role": "assistant", "content": "已经发货了。"},
    ]
    encoded = _task().encode(tokenizer, {"messages": [chat]})
    spans = _labelled_spans(encoded["input_ids"][0], encoded["labels"][0])
    assert [tokenizer.decode(span).strip() for span in spans] == ["已经发货了。<|im_end|>"]
    scores = text_scores(["已经发货"], ["已经发货了。"])
    assert scores["rouge1"] > 0.5 and scores["bleu"] > 0


def test_plain_template_labels_answers_with_eos(tiny_family) -> None:
    """A base model without a template (the Llama 3 stand-in) and ftlab's `plain` one: each
    answer is labelled with the eos token that ends it."""
    tokenizer = _tokenizer(tiny_family("llama"), "plain")
    encoded = _task().encode(tokenizer, {"messages": [CHAT]})
    spans = _labelled_spans(encoded["input_ids"][0], encoded["labels"][0])
    eos = tokenizer.eos_token
    assert [tokenizer.decode(s) for s in spans] == [
        f" It left the depot today.{eos}",
        f" You are welcome.{eos}",
    ]


def test_template_without_marks_trains_the_last_answer(tiny_family, tmp_path: Path) -> None:
    """A .jinja template TRL knows no training version of: the answer after the last prompt
    is what is learned (the prompt rendered with its generation prompt is the prefix)."""
    template = tmp_path / "bare.jinja"
    template.write_text(
        "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + eos_token }}{% endfor %}"
        "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}",
        encoding="utf-8",
    )
    tokenizer = _tokenizer(tiny_family("llama"), str(template))
    encoded = _task().encode(tokenizer, {"messages": [CHAT]})
    spans = _labelled_spans(encoded["input_ids"][0], encoded["labels"][0])
    # the prompt's trailing space merges into the answer's first token (" You"): the answer
    # starts where the two renderings' tokens part
    assert [tokenizer.decode(s) for s in spans] == [f" You are welcome.{tokenizer.eos_token}"]


def test_long_conversations_are_cut_and_counted(tiny_family) -> None:
    """Longer than max_seq_length: the answer's tail is cut; a prompt that alone fills the
    length drops the conversation; both counted, nothing cut silently."""
    from datasets import DatasetDict

    tokenizer = _tokenizer(tiny_family("qwen2"))
    short = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]
    long_answer = [short[0], {"role": "assistant", "content": "word " * 60}]
    long_prompt = [{"role": "user", "content": "word " * 80}, short[1]]
    task = _task(max_seq_length=60)
    rows = Dataset.from_dict({"messages": [short, long_answer, long_prompt]})
    tokenized = task.tokenize(DatasetDict({"train": rows}), tokenizer)
    assert tokenized.records["sft_tokens.json"]["train"] == {
        "conversations": 3,
        "answers_cut": 1,
        "dropped_prompt_too_long": 1,
    }
    kept = tokenized.splits["train"]
    assert len(kept) == 2 and max(len(ids) for ids in kept["input_ids"]) == 60


# -- layouts -> messages, and what is refused ----------------------------------------------
@pytest.mark.parametrize(
    ("layout", "row", "expected"),
    [
        (
            "prompt_completion",
            {"prompt": "Hi?", "completion": "Hello."},
            [("user", "Hi?"), ("assistant", "Hello.")],
        ),
        (
            "alpaca",
            {"instruction": "Translate", "input": "chat", "output": "cat"},
            [("user", "Translate\n\nchat"), ("assistant", "cat")],
        ),
        (
            "sharegpt",
            {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]},
            [("user", "Hi"), ("assistant", "Yo")],
        ),
        (
            "messages",
            {"messages": json.dumps([{"role": "user", "content": "你好"}])},  # a csv cell
            [("user", "你好")],
        ),
    ],
)
def test_layouts_become_messages(layout: str, row: dict, expected: list) -> None:
    columns = ("messages", "prompt", "completion")
    messages = to_messages(row, layout, columns, system_prompt="Be brief.")
    assert [(m["role"], m["content"]) for m in messages] == [("system", "Be brief."), *expected]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [{"messages": [{"role": "customer", "content": "hi"}]}],
            "train data, row 0: a turn with role 'customer'; roles are system, user, assistant",
        ),
        ([{"messages": []}], "train data, row 0: an empty conversation"),
        (
            [{"messages": [{"role": "user", "content": "hi"}]}],
            "ends with a user turn; training data ends with the assistant's answer",
        ),
        ([{"question": "hi"}], "are none of the dialogue layouts"),
    ],
)
def test_bad_conversations_end_in_one_line(
    rows: list[dict], message: str, tmp_path: Path, tiny_family
) -> None:
    path = write_jsonl(tmp_path / "chats.jsonl", rows)
    done = in_process(
        "ftlab.run",
        *FAST,
        "task=movie_chat",
        "task.data_format=auto",
        f"task.train_file={path}",
        f"model.name_or_path={tiny_family('qwen2')}",
        f"output_root={tmp_path}",
        cwd=tmp_path,
    )
    errors = [line for line in done.stderr.splitlines() if line.startswith("ftlab: error: ")]
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert message in errors[0] and "Traceback" not in done.stderr


def test_a_turn_that_is_no_dict_is_named_with_a_system_prompt() -> None:
    from ftlab.tasks.conversations import conversations

    rows = Dataset.from_dict({"messages": [json.dumps(["hello", {"role": "user"}])]})
    with pytest.raises(FtlabError, match="row 0: a turn with role 'hello'"):
        conversations(rows, "messages", ("messages", "p", "c"), "Be brief.", "train data")


def test_config_checks_and_trl_defaults() -> None:
    """TRL's own defaults that differ from TrainingArguments' are not inherited."""
    from transformers import TrainingArguments

    with pytest.raises(FtlabError, match=r"task\.data_format=chatml: use one of auto"):
        _task(data_format="chatml")
    with pytest.raises(FtlabError, match=r"task\.max_new_tokens must be above 0"):
        _task(max_new_tokens=0)
    arguments, fields = _task(max_seq_length=256, packing=True).arguments_class()
    args = arguments(output_dir="unused", **fields)
    plain = TrainingArguments(output_dir="unused")
    for name in ("learning_rate", "gradient_checkpointing", "logging_steps", "bf16"):
        assert getattr(args, name) == getattr(plain, name), name
    assert (args.max_length, args.packing, args.eval_packing) == (256, True, False)


# -- packing: each conversation attends only to itself ------------------------------------
def test_packed_logits_equal_unpacked(tiny_family) -> None:
    """TRL's padding-free collator (what packing=true trains with) gives each packed
    conversation restarting position ids; transformers then masks attention across them
    (as TRL's loss calls the model: without a cache). Negative control: the same row with
    running positions lets the second conversation see the first, and its logits change."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    model = AutoModelForCausalLM.from_pretrained(tiny_family("qwen2")).eval()
    first, second = list(range(10, 30)), list(range(40, 52))
    batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(
        [{"input_ids": first, "labels": first}, {"input_ids": second, "labels": second}]
    )
    with torch.no_grad():
        packed = model(batch["input_ids"], position_ids=batch["position_ids"], use_cache=False)
        alone = [model(torch.tensor([ids])).logits[0] for ids in (first, second)]
        running = model(batch["input_ids"], use_cache=False).logits[0]
    assert torch.allclose(packed.logits[0][:20], alone[0], atol=1e-5)
    assert torch.allclose(packed.logits[0][20:], alone[1], atol=1e-5)
    assert not torch.allclose(running[20:], alone[1], atol=1e-3)


# -- a whole run: the loss falls, the replies are the memorised ones -----------------------
def _memorised_pairs(tokenizer_dir: Path) -> list[dict]:
    """16 questions "tell me <word>", each answered by "the answer is <another word> ." by
    a fixed random bijection: only training can link them."""
    from transformers import AutoTokenizer

    vocab = AutoTokenizer.from_pretrained(tokenizer_dir).get_vocab()
    words = sorted(w[1:] for w in vocab if w.startswith("Ġ") and w[1:].isalpha() and len(w) > 4)
    questions, answers = words[:16], words[16:32]
    random.Random(0).shuffle(answers)
    return [
        {"prompt": f"tell me {q}", "completion": f"the answer is {a} ."}
        for q, a in zip(questions, answers, strict=True)
    ]


@pytest.fixture(scope="module")
def memorised_run(tmp_path_factory: pytest.TempPathFactory, tiny_family) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("sft")
    model = tiny_family("qwen2")
    pairs = _memorised_pairs(model)
    data = write_jsonl(root / "pairs.jsonl", pairs)
    return _sft_run(root / "run", model, *MEMORISE, *_pair_files(data)), pairs


def test_loss_falls_and_replies_are_memorised(memorised_run: tuple[Path, list]) -> None:
    run_dir, _ = memorised_run
    losses = [e["loss"] for e in read_json(run_dir / "train_log.json") if "loss" in e]
    assert losses[-1] < 0.25 * losses[0], losses
    metrics = read_json(run_dir / "metrics.json")
    test = metrics["test"]
    assert test["test_mean_token_accuracy"] > 0.8
    assert test["test_perplexity"] == pytest.approx(2.718281828 ** test["test_loss"], rel=1e-6)
    generated = [
        json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()
    ]
    exact = sum(row["reply"] == row["reference"] for row in generated)
    assert len(generated) == 16 and exact >= 12, generated
    assert test["test_rougeL"] >= 0.75 and test["test_bleu"] > 50
    assert read_json(run_dir / "sft_tokens.json")["train"]["conversations"] == 16


def test_report_shows_the_replies(memorised_run: tuple[Path, list], tmp_path: Path) -> None:
    from ftlab.report.__main__ import main

    run_dir, pairs = memorised_run
    main([str(run_dir.parent), "--out", str(tmp_path)])
    page = (tmp_path / "report.html").read_text()
    assert "Example replies to test conversations" in page and pairs[0]["prompt"] in page


def test_predict_generates_the_memorised_reply(memorised_run: tuple[Path, list], tmp_path) -> None:
    """ftlab.predict on questions (one a line) and on a conversation with its answer (scored)."""
    run_dir, pairs = memorised_run
    questions = "".join(f"{p['prompt']}\n" for p in pairs[:4])
    done = in_process(
        "ftlab.predict", f"run={run_dir}", "input=-", "progress=false",
        cwd=tmp_path, stdin_text=questions,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    replies = [json.loads(line)["reply"] for line in done.stdout.splitlines()]
    assert sum(r == p["completion"] for r, p in zip(replies, pairs[:4], strict=True)) >= 3, replies
    # generation.* keys instead of the run's: two new tokens, the start of the same reply
    short = in_process(
        "ftlab.predict", f"run={run_dir}", "input=-", "progress=false",
        "generation.max_new_tokens=2", cwd=tmp_path, stdin_text=questions,
    )  # fmt: skip
    cut = [json.loads(line)["reply"] for line in short.stdout.splitlines()]
    assert all(r.startswith(c) and len(c) < len(r) for r, c in zip(replies, cut, strict=True))
    chats = write_jsonl(
        tmp_path / "chats.jsonl",
        [
            {"messages": [{"role": "user", "content": p["prompt"]},
                          {"role": "assistant", "content": p["completion"]}]}
            for p in pairs[:4]
        ],
    )  # fmt: skip
    scored = in_process(
        "ftlab.predict", f"run={run_dir}", f"input={chats}", f"output={tmp_path / 'o.jsonl'}",
        "progress=false", cwd=tmp_path,
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr[-2000:]
    assert "rougeL" in scored.stdout
    # negative control: an ensemble of generating runs is refused in one line
    two = in_process(
        "ftlab.predict", f"run=[{run_dir},{run_dir}]", "input=-", cwd=tmp_path,
        stdin_text="hi\n",
    )  # fmt: skip
    assert two.returncode == 1 and "cannot average" in two.stderr
    exported = in_process("ftlab.export", f"run={run_dir}", cwd=tmp_path)
    assert exported.returncode == 1 and "serve it with ftlab.serve" in exported.stderr


def test_served_chat_answers_as_the_run_does(memorised_run: tuple[Path, list]) -> None:
    """ftlab.serve over the run: POST /v1/chat answers the conversation, POST /v1/predict
    each question, with the memorised replies; a conversation ending with an answer is 422."""
    from ftlab.serve.model import ServedModel
    from tests.test_serve import AUTH, client_for

    run_dir, pairs = memorised_run
    client = client_for(ServedModel(str(run_dir)))
    chats = [
        client.post(
            "/v1/chat",
            json={"messages": [{"role": "user", "content": p["prompt"]}]},
            headers=AUTH,
        )
        for p in pairs[:4]
    ]
    assert all(c.status_code == 200 for c in chats), chats[0].text
    replies = [c.json()["reply"] for c in chats]
    assert sum(r == p["completion"] for r, p in zip(replies, pairs[:4], strict=True)) >= 3
    asked = client.post(
        "/v1/predict", json={"inputs": [p["prompt"] for p in pairs[:4]]}, headers=AUTH
    )
    assert [p["reply"] for p in asked.json()["predictions"]] == replies
    answered = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    refused = client.post("/v1/chat", json={"messages": answered}, headers=AUTH)
    assert refused.status_code == 422 and "last turn must be the user's" in refused.text
    empty = client.post(
        "/v1/chat", json={"messages": [{"role": "user", "content": " "}]}, headers=AUTH
    )
    assert empty.status_code == 422 and "field 'messages.0': an empty text" in empty.text
    assert client.get("/info", headers=AUTH).json()["endpoint"] == "chat"


def test_packed_run_of_a_decoder_without_pad_token(tiny_family, tmp_path: Path) -> None:
    """The Llama 3 stand-in (no pad token, no template: task.chat_template=plain), packed, on
    the built-in movie dialogues: it trains, scores and saves the template with the model;
    its test replies reach W&B (offline) and MLflow (a local store) as tables."""
    from mlflow.tracking import MlflowClient

    wandb_dirs = {n: str(tmp_path / n.lower()) for n in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR")}
    run_dir = _sft_run(
        tmp_path / "run",
        tiny_family("llama"),
        "task.chat_template=plain",
        "task.packing=true",
        "task.max_train_samples=200",
        "task.max_eval_samples=20",
        "task.generate_samples=4",
        "task.max_new_tokens=4",
        "trainer.max_steps=3",
        "logger=[wandb,mlflow]",
        f"output_root={tmp_path}",
        env={"WANDB_MODE": "offline", **wandb_dirs},
    )
    test = read_json(run_dir / "metrics.json")["test"]
    assert {"test_loss", "test_perplexity", "test_rouge1", "test_bleu"} <= set(test)
    assert "User:" in (run_dir / "model" / "chat_template.jinja").read_text()
    lines = (run_dir / "predictions.jsonl").read_text().splitlines()
    replies = [json.loads(line)["reply"] for line in lines]
    (table,) = (run_dir / "wandb").glob("offline-run-*/files/media/table/test/examples_*.json")
    assert json.loads(table.read_text())["data"][0][2] == replies[0]
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (logged,) = client.search_runs(client.search_experiments()[0].experiment_id)
    assert "examples.json" in {a.path for a in client.list_artifacts(logged.info.run_id)}
    # with no template named, the stand-in stops in one line
    bare = in_process(
        "ftlab.run", *FAST, "task=movie_chat", f"model.name_or_path={tiny_family('llama')}",
        f"output_root={tmp_path}", cwd=tmp_path,
    )  # fmt: skip
    assert bare.returncode == 1 and "has no chat template; set task.chat_template" in bare.stderr


def test_lora_run_predicts_alike_merged(tiny_family, tmp_path: Path) -> None:
    """peft=lora on the decoder (peft's CAUSAL_LM adapter): the run saves the adapter, and
    ftlab.predict merge=true (the adapter folded in) replies as the adapter does."""
    pairs = _memorised_pairs(tiny_family("qwen2"))[:8]
    data = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    run_dir = _sft_run(
        tmp_path / "run", tiny_family("qwen2"), "peft=lora", *_pair_files(data),
        "trainer.max_steps=20", "optimizer.learning_rate=1e-2", "task.max_new_tokens=6",
    )  # fmt: skip
    assert (run_dir / "model" / "adapter_config.json").is_file()
    questions = "".join(f"{p['prompt']}\n" for p in pairs)
    replies = {}
    for merge in ("false", "true"):
        asked = in_process(
            "ftlab.predict", f"run={run_dir}", "input=-", "progress=false", f"merge={merge}",
            cwd=tmp_path, stdin_text=questions,
        )  # fmt: skip
        assert asked.returncode == 0, asked.stderr[-2000:]
        replies[merge] = [json.loads(line)["reply"] for line in asked.stdout.splitlines()]
    assert replies["true"] == replies["false"] and len(replies["true"]) == 8


@pytest.mark.gpu
@pytest.mark.parametrize("experiment", ["movie_chat_qwen_lora", "movie_chat_llama_qlora"])
def test_real_presets_on_gpu(experiment: str, tmp_path: Path) -> None:
    """The real presets (Hub models: where a GPU and the models are available)."""
    done = in_process(
        "ftlab.run", f"experiment={experiment}", "trainer.max_steps=20",
        "task.max_train_samples=400", f"output_root={tmp_path}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
