"""Task kind retrieval: a bi-encoder trained by sentence-transformers' trainer, scored by
its retrieval evaluators, predicting the top answers of a corpus."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from ftlab.records import read_json
from tests.conftest import write_jsonl
from tests.helpers import FAMILY_RUN, assert_same_test_metrics, in_process, predicted_again

# a tiny random BERT learns the pairing in 40 steps at this rate
LEARN = [
    "task=pairs",
    "trainer.max_steps=40",
    "optimizer.learning_rate=1e-3",
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
]


def _pairs(tiny_model_dir: Path, shift: int) -> list[dict]:
    """48 queries "tell me <word>" each answered by "it is <another word>": a fixed random
    bijection of words no text shares, so only training can link them. `shift` > 0 pairs
    each query with another query's answer (a pairing that says nothing of the true one)."""
    from transformers import AutoTokenizer

    vocab = AutoTokenizer.from_pretrained(tiny_model_dir).get_vocab()
    words = sorted(w for w in vocab if w.isalpha() and len(w) > 3)[:96]
    queries, answers = words[:48], words[48:]
    random.Random(0).shuffle(answers)
    answers = answers[shift:] + answers[:shift]
    return [
        {"query": f"tell me {q}", "answer": f"it is {a}"}
        for q, a in zip(queries, answers, strict=True)
    ]


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict:
    root = tmp_path_factory.mktemp("pairs")
    return {
        "true": write_jsonl(root / "true.jsonl", _pairs(tiny_model_dir, 0)),
        "shuffled": write_jsonl(root / "shuffled.jsonl", _pairs(tiny_model_dir, 1)),
    }


def _top_answers(cwd: Path, queries: list[str], *args: str) -> list[dict]:
    """`ftlab.predict ARGS input=-` on the queries, one a line: its records."""
    done = in_process(
        "ftlab.predict",
        *args,
        "input=-",
        "progress=false",
        cwd=cwd,
        stdin_text="\n".join(queries) + "\n",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def _run(tmp: Path, model: Path, train: Path, test: Path, *overrides: str) -> Path:
    from tests.helpers import tiny_run

    files = {"train": train, "validation": test, "test": test}
    return tiny_run(tmp, model, files, *LEARN, *overrides)


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, pair_files) -> Path:
    return _run(
        tmp_path_factory.mktemp("learned"), tiny_model_dir, pair_files["true"], pair_files["true"]
    )


def test_learns_a_pairing_that_a_shuffled_pairing_cannot(
    learned: Path, tmp_path: Path, tiny_model_dir: Path, pair_files: dict
) -> None:
    test = read_json(learned / "metrics.json")["test"]
    assert test["test_mrr_at_10"] > 0.75 and test["test_recall_at_1_of_n"] > 0.8, test
    # negative control: the same steps on each query paired with another's answer
    shuffled = _run(tmp_path, tiny_model_dir, pair_files["shuffled"], pair_files["true"])
    control = read_json(shuffled / "metrics.json")["test"]
    assert control["test_mrr_at_10"] < 0.3, control
    # every metric of the kind, for validation and test; the predictions file ranks the
    # query's own answer first
    assert {f"test_{m}" for m in ("ndcg_at_10", "recall_at_1", "recall_at_5", "map_at_100")} <= set(
        test
    )
    rows = [json.loads(x) for x in (learned / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 48
    firsts = [r for r in rows if r["answer_rank"] == 1]
    assert len(firsts) / 48 == pytest.approx(test["test_recall_at_1"])
    assert all(r["top"][0]["text"] in r["answers"] for r in firsts)


def test_predict_reproduces_the_test_metrics_and_ranks_as_brute_force_cosine(
    learned: Path, tmp_path: Path
) -> None:
    metrics, _ = predicted_again(learned, tmp_path / "again.jsonl")
    assert_same_test_metrics(learned, metrics, 1e-6)

    corpus = [f"it is {w}" for w in ("about", "actor", "english", "kind", "many", "name")]
    (tmp_path / "corpus.txt").write_text("\n".join(corpus) + "\n", encoding="utf-8")
    queries = ["tell me about", "tell me actor", "what is a name"]
    records = _top_answers(tmp_path, queries, f"run={learned}", f"corpus={tmp_path / 'corpus.txt'}")

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(learned / "model"), device="cpu")
    q, c = model.encode(queries), model.encode(corpus)
    cosine = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (
        c / np.linalg.norm(c, axis=1, keepdims=True)
    ).T
    for record, row in zip(records, cosine, strict=True):
        order = np.argsort(-row, kind="stable")
        assert [hit["text"] for hit in record["top"]] == [corpus[i] for i in order]
        assert [hit["score"] for hit in record["top"]] == pytest.approx(row[order], abs=1e-4)
    # the corpus was embedded once and kept for the next prediction
    assert len(list((learned / "prediction-cache").glob("*.pt"))) >= 1


def test_the_encoder_exports_to_onnx_with_its_sentence_embeddings(
    learned: Path, tmp_path: Path
) -> None:
    """The graph's output is the sentence embedding sentence-transformers computes."""
    import onnxruntime
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from tests.helpers import exported

    report = exported(learned, tmp_path / "onnx", quantize=None)
    assert report["models"]["onnx"]["max_abs_logit_diff"] <= 1e-4
    texts = ["tell me about", "it is english and more words"]
    batch = AutoTokenizer.from_pretrained(tmp_path / "onnx")(
        texts, padding=True, return_tensors="np"
    )
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"))
    names = [i.name for i in session.get_inputs()]
    (graph,) = session.run(["logits"], {n: batch[n] for n in names})
    expected = SentenceTransformer(str(learned / "model"), device="cpu").encode(texts)
    assert np.abs(graph - expected).max() < 1e-4


@pytest.mark.parametrize(
    ("corpus", "expected"),
    [
        ("missing.txt", "corpus=missing.txt: no such file"),
        ("latin1.txt", "latin1.txt is not utf-8 text (byte 0xe9 at offset 3)"),
    ],
)
def test_a_bad_corpus_gets_one_line(
    corpus: str, expected: str, learned: Path, tmp_path: Path
) -> None:
    (tmp_path / "latin1.txt").write_bytes("café olé\nyes\n".encode("latin-1"))
    done = in_process(
        "ftlab.predict",
        f"run={learned}",
        "input=-",
        f"corpus={corpus}",
        "progress=false",
        cwd=tmp_path,
        stdin_text="hello\n",
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ftlab: error:") and expected in last, done.stderr[-1500:]
    assert "Traceback" not in done.stderr


def test_the_service_searches_the_corpus_as_predict_ranks_it(learned: Path, tmp_path: Path) -> None:
    """ftlab.serve corpus=FILE: POST /v1/search answers each query with predict's top corpus
    texts (top_k of them); without a corpus the service stops in one line."""
    from ftlab.serve.model import ServedModel
    from tests.test_serve import AUTH, client_for

    corpus = [f"it is {w}" for w in ("about", "actor", "english", "kind", "many", "name")]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(corpus) + "\n", encoding="utf-8")
    queries = ["tell me about", "tell me actor"]
    expected = _top_answers(tmp_path, queries, f"run={learned}", f"corpus={path}")
    client = client_for(ServedModel(str(learned), corpus=str(path)))
    found = client.post("/v1/search", json={"query": queries, "top_k": 3}, headers=AUTH)
    assert found.status_code == 200, found.text
    for results, record in zip(found.json()["results"], expected, strict=True):
        assert [r["text"] for r in results] == [r["text"] for r in record["top"][:3]]
    assert client.get("/info", headers=AUTH).json()["endpoint"] == "search"
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/v1/chat", json=chat, headers=AUTH).status_code == 404
    done = in_process("ftlab.serve.__main__", f"run={learned}", "serve.engine=local", cwd=tmp_path)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode != 0 and "searches a corpus: set corpus=FILE" in last, last


def test_metrics_equal_a_hand_computation() -> None:
    """Five queries, a corpus of six; the hits ranked by hand."""
    from ftlab.tasks.ranking import RankingProblem

    queries = ["q1", "q2", "q3", "q4", "q5"]
    answers = ["a1", "a2", "a3", "a4", "a5"]
    problem = RankingProblem.of_pairs(queries, answers, ["a1", "a2", "a3", "a4", "a5", "x"])
    # where each query's answer ranks: 1, 2, 3, 6 (outside the top 5 of 1/5/10?), none
    ranks = [1, 2, 3, 6, None]
    hits = []
    for qi, rank in enumerate(ranks):
        others = [c for c in range(6) if c != qi]
        order = others[:]
        if rank is not None:
            order.insert(rank - 1, qi)
        hits.append([{"corpus_id": str(c), "score": 1.0 - i / 10} for i, c in enumerate(order)])
    scores = problem.scores(hits)
    reciprocal = [1 / r if r and r <= 10 else 0.0 for r in ranks]
    assert scores["mrr_at_10"] == pytest.approx(sum(reciprocal) / 5)  # (1 + 1/2 + 1/3 + 1/6) / 5
    assert scores["recall_at_1"] == pytest.approx(1 / 5)
    assert scores["recall_at_5"] == pytest.approx(3 / 5)
    assert scores["recall_at_10"] == pytest.approx(4 / 5)
    # one relevant answer: nDCG@10 = 1 / log2(rank + 1)
    ndcg = [1 / np.log2(r + 1) if r else 0.0 for r in ranks]
    assert scores["ndcg_at_10"] == pytest.approx(sum(ndcg) / 5)


def test_the_no_duplicates_sampler_keeps_repeated_answers_apart(tiny_model_dir: Path) -> None:
    """A batch holding "yes." twice would make one row's answer another row's negative."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from ftlab.config.targets import build_task
    from tests.helpers import compose_config

    answers = ["yes."] * 8 + [f"answer {i}" for i in range(24)]
    data = Dataset.from_dict({"query": [f"question {i}" for i in range(32)], "answer": answers})

    def repeats(no_duplicates: bool) -> int:
        cfg = compose_config(["task=pairs", f"task.no_duplicates={no_duplicates}"])
        task = build_task(cfg.task)
        arguments, fields = task.arguments_class()
        args = arguments(output_dir="unused", per_device_train_batch_size=8, seed=0, **fields)
        model = task.model_loader().from_pretrained(str(tiny_model_dir))
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=data, loss=MultipleNegativesRankingLoss(model)
        )
        batches = list(trainer.get_train_dataloader().batch_sampler)
        assert sorted(i for b in batches for i in b) == list(range(32))  # each row once
        return sum(len(b) - len({answers[i] for i in b}) for b in batches)

    assert repeats(True) == 0
    assert repeats(False) > 0  # negative control: the plain sampler puts repeats together


def test_mined_negatives_are_other_answers_the_model_ranks_high(
    tiny_model_dir: Path, pair_files: dict
) -> None:
    from datasets import Dataset, load_dataset
    from transformers import AutoTokenizer

    from ftlab.config.targets import build_task
    from tests.helpers import compose_config

    # a random model finds every "it is <word>" alike: no margin, or it keeps no pair
    cfg = compose_config(["task=pairs", "task.mine_negatives=2", "task.mine_margin=0"])
    task = build_task(cfg.task)
    rows = load_dataset("json", data_files=str(pair_files["true"]))["train"]
    model = task.model_loader().from_pretrained(str(tiny_model_dir))
    mined = task.mined(model, rows, AutoTokenizer.from_pretrained(tiny_model_dir))
    assert isinstance(mined, Dataset) and 0 < len(mined) <= len(rows)
    assert mined.column_names == ["query", "answer", "negative_1", "negative_2"]
    answers = set(rows["answer"])
    for row in mined:
        negatives = {row["negative_1"], row["negative_2"]}
        assert row["answer"] not in negatives and negatives <= answers and len(negatives) == 2


@pytest.mark.parametrize("family", ["roberta", "llama"])
def test_families_train_and_predict_alike(
    family: str, tiny_family, tmp_path: Path, pair_files: dict
) -> None:
    """Byte-level BPE (RoBERTa) and a decoder without a pad token (Llama) as encoders."""
    run = _run(
        tmp_path / "run",
        tiny_family(family),
        pair_files["true"],
        pair_files["true"],
        *FAMILY_RUN[:1],
    )
    metrics, _ = predicted_again(run, tmp_path / "again.jsonl")
    assert_same_test_metrics(run, metrics, 1e-5)


@pytest.mark.parametrize(
    ("rows", "overrides", "expected"),
    [
        ([{"question": "q", "answer": "a"}], [], "has no column 'query' (task.query_column)"),
        ([{"query": "q", "answer": 3}], [], "row 0: 'answer' holds 3, not a text"),
        (
            [{"query": "q", "answer": "a", "score": "high"}],
            ["task.score_column=score"],
            "'score' holds 'high', not a number",
        ),
        ([{"query": "q", "answer": "a"}], ["task.loss=cosent"], "set task.score_column"),
        (
            [{"query": "q", "answer": "a"}],
            ["task=pairs_rerank", "task.mine_negatives=2"],
            "set task.first_stage to a retrieval run",
        ),
        (
            [{"query": "q", "answer": "a"}],
            ["trainer.adversarial=fgm"],
            "trainer.adversarial is a recipe of ftlab's Trainer",
        ),
    ],
)
def test_bad_pair_files_get_one_line(
    rows: list[dict], overrides: list[str], expected: str, tmp_path: Path, tiny_model_dir: Path
) -> None:
    data = write_jsonl(tmp_path / "pairs.jsonl", rows * 20)
    done = in_process(
        "ftlab.run",
        "task=pairs",
        f"model.name_or_path={tiny_model_dir}",
        f"task.train_file={data}",
        "hardware=cpu",
        "trainer.max_steps=1",
        f"output_root={tmp_path / 'out'}",
        *overrides,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("ftlab: error:")]
    assert len(errors) == 1 and expected in errors[0], done.stderr[-1500:]
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def reranker(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, pair_files, learned):
    """A cross-encoder on the same pairs, reranking the learned bi-encoder's top 12."""
    return _run(
        tmp_path_factory.mktemp("reranker"),
        tiny_model_dir,
        pair_files["true"],
        pair_files["true"],
        "task=pairs_rerank",
        f"task.first_stage={learned}",
        "task.candidates=12",
        "task.mine_negatives=2",  # by the bi-encoder: the n-tuples reach the trainer's loss
        "trainer.max_steps=8",  # what it learns is not checked here: only how it ranks
    )


def test_a_reranker_mines_its_negatives_with_the_first_stage(
    learned: Path, pair_files: dict, tiny_model_dir: Path
) -> None:
    """The mined negatives are answers from the first stage's top candidates for the query
    (what the reranker will reorder), never the pair's own, not answers at random."""
    from datasets import load_dataset
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    from ftlab.config.targets import build_task
    from tests.helpers import compose_config

    overrides = ["task=pairs_rerank", f"task.first_stage={learned}", "task.mine_negatives=2"]
    task = build_task(compose_config([*overrides, "task.candidates=4"]).task)
    rows = load_dataset("json", data_files=str(pair_files["true"]))["train"]
    mined = task.mined(task.miner(None), rows, AutoTokenizer.from_pretrained(tiny_model_dir))
    assert len(mined) == len(rows)  # no pair dropped: a weak first stage keeps them all
    encoder = SentenceTransformer(str(learned / "model"), device="cpu")
    answers = sorted(set(rows["answer"]))
    scores = encoder.similarity(encoder.encode(mined["query"]), encoder.encode(answers)).numpy()
    ranks = []  # each negative's rank among the answers other than the pair's own
    for row, pair in enumerate(mined):
        others = sorted(
            (i for i, a in enumerate(answers) if a != pair["answer"]), key=lambda i: -scores[row, i]
        )
        for negative in (pair["negative_1"], pair["negative_2"]):
            assert negative != pair["answer"]
            ranks.append(others.index(answers.index(negative)))
    assert max(ranks) < 4, ranks  # within the first stage's top task.candidates
    assert len(answers) > 12  # so that answers at random would often rank lower


def test_a_reranker_reports_the_first_stage_beside_its_own_ranking(
    reranker: Path, learned: Path
) -> None:
    test = read_json(reranker / "metrics.json")["test"]
    first = read_json(learned / "metrics.json")["test"]
    # the cross-encoder evaluator's "before" figures are the bi-encoder's own (its top 12
    # hold every top 10)
    assert test["test_first_stage_mrr_at_10"] == pytest.approx(first["test_mrr_at_10"], abs=1e-6)
    assert test["test_first_stage_ndcg_at_10"] == pytest.approx(first["test_ndcg_at_10"], abs=1e-6)
    assert {"test_mrr_at_10", "test_ndcg_at_10", "test_map", "test_recall_at_1_of_n"} <= set(test)


def test_predict_reranks_the_candidates_as_the_cross_encoder_scores_them(
    reranker: Path, learned: Path, tmp_path: Path
) -> None:
    from sentence_transformers import CrossEncoder

    queries = ["tell me about", "tell me actor"]
    corpus = f"corpus={pair_files_corpus(tmp_path, learned)}"
    records = _top_answers(tmp_path, queries, f"run={learned}", f"rerank={reranker}", corpus)
    model = CrossEncoder(str(reranker / "model"), device="cpu")
    for query, record in zip(queries, records, strict=True):
        texts = [hit["text"] for hit in record["top"]]
        assert len(texts) == 10  # top_k of the 12 candidates
        scores = model.predict([(query, text) for text in texts])
        assert list(scores) == sorted(scores, reverse=True)  # in the cross-encoder's order
        assert [h["score"] for h in record["top"]] == pytest.approx(list(scores), abs=1e-4)


def pair_files_corpus(tmp_path: Path, learned: Path) -> Path:
    """The learned run's test answers as a corpus file."""
    rows = [json.loads(x) for x in (learned / "predictions.jsonl").read_text().splitlines()]
    corpus = tmp_path / "answers.txt"
    corpus.write_text("\n".join(a for r in rows for a in r["answers"]) + "\n", encoding="utf-8")
    return corpus


def test_the_built_in_movie_dialogues_split_by_film_blocks() -> None:
    """The real data of task=movie_replies: every pair whole, the splits contiguous blocks
    of the file (so held-out lines come from other films: only common lines recur)."""
    from ftlab.data.builtin import movie_dialogs

    splits = movie_dialogs()
    sizes = {name: len(split) for name, split in splits.items()}
    assert sizes == {"train": 51400, "validation": 6424, "test": 6424}
    statements = {name: set(split["statement"]) for name, split in splits.items()}
    for held_out in ("validation", "test"):
        shared = statements["train"] & statements[held_out]
        assert len(shared) < 0.1 * len(statements[held_out]), len(shared)  # 468 of 6,092
    for split in splits.values():
        assert all(s.strip() for s in split["statement"]) and all(r.strip() for r in split["reply"])
    # the file's first line opens train, its last closes test
    assert splits["train"][0]["statement"].startswith("you're asking me out")
