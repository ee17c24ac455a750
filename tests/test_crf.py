"""`model.head=crf`: a pytorch-crf layer over the tagger's logits, trained on the likelihood
of whole tag paths, Viterbi-decoded in evaluation and prediction, saved and reloaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ftlab.errors import FtlabError
from ftlab.records import read_json

torchcrf = pytest.importorskip("torchcrf")

from ftlab.tasks.crf import Packed, viterbi_logits  # noqa: E402


def _crf_that_forbids_repeating(tags: int = 3) -> torchcrf.CRF:
    crf = torchcrf.CRF(tags, batch_first=True)
    with torch.no_grad():
        for parameter in (crf.start_transitions, crf.end_transitions, crf.transitions):
            parameter.zero_()
        crf.transitions[1, 1] = -100.0  # tag 1 never follows tag 1
    return crf


def test_viterbi_logits_put_the_path_on_top_and_keep_the_values() -> None:
    crf = _crf_that_forbids_repeating()
    # 2 rows, 5 positions; row 0 scores positions 1, 2, 4 (0 and 3 are special / later
    # pieces); row 1 scores none. Tag 1 is every position's own best.
    emissions = torch.tensor([[[0.0, 2.0, 1.0]] * 5, [[0.0, 2.0, 1.0]] * 5])
    scored = torch.tensor([[0, 1, 1, 0, 1], [0, 0, 0, 0, 0]], dtype=torch.bool)
    packed = Packed(emissions, scored)
    assert packed.index[0].tolist()[:3] == [1, 2, 4]
    assert packed.mask.tolist() == [[True] * 3, [False] * 3]
    logits = viterbi_logits(crf, emissions, packed)
    # the path over the scored words alternates 1, 2, 1 (1 cannot repeat) ...
    assert logits[0, [1, 2, 4]].argmax(-1).tolist() == [1, 2, 1]
    # ... while argmax alone (negative control) says 1, 1, 1
    assert emissions[0, [1, 2, 4]].argmax(-1).tolist() == [1, 1, 1]
    # unscored positions and the row without words keep the tagger's own argmax
    assert logits[0, [0, 3]].argmax(-1).tolist() == [1, 1]
    assert logits[1].argmax(-1).tolist() == [1] * 5
    # a swap: each position's probabilities are the emissions' softmax, reordered
    expected = torch.log_softmax(emissions, -1).sort(-1).values
    assert torch.allclose(logits.sort(-1).values, expected)


@pytest.fixture(scope="module")
def crf_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_ner_model_dir: Path, conll_files: dict
) -> Path:
    """The shared NER run's settings (tests/conftest.py: ner_run), with the CRF head and
    the best epoch's checkpoint kept as the model."""
    from helpers import tiny_run

    return tiny_run(
        tmp_path_factory.mktemp("crf-run"),
        tiny_ner_model_dir,
        conll_files,
        "task=ner",
        "model.head=crf",
        "task.max_seq_length=256",
        "trainer.num_train_epochs=8",
        "optimizer.learning_rate=3e-3",
        # a checkpoint and evaluation each epoch, the best one loaded back at the end
        "trainer.eval_strategy=epoch",
        "trainer.save_strategy=epoch",
        "trainer.load_best_model_at_end=true",
    )


def _predicted_tags(run_dir: Path) -> list[list[str]]:
    blocks = (run_dir / "predictions.conll").read_text(encoding="utf-8").strip().split("\n\n")
    return [[line.split("\t")[2] for line in block.splitlines()] for block in blocks]


def test_crf_run_learns_entities_and_its_transitions(crf_run: Path) -> None:
    from safetensors.torch import load_file

    metrics = read_json(crf_run / "metrics.json")
    # 5 trainer seeds: validation F1 0.447-0.490, test 0.402-0.440 (the softmax head's run in
    # test_ner_train.py: 0.405-0.441, 0.365-0.392); the floors sit about 15 % under the lowest
    assert metrics["validation"]["eval_f1"] > 0.38, metrics["validation"]
    assert metrics["test"]["test_f1"] > 0.34, metrics["test"]
    losses = [e["loss"] for e in read_json(crf_run / "train_log.json") if "loss" in e]
    assert losses[-1] < losses[0] / 2, losses  # the path likelihood is what it trained on
    weights = load_file(crf_run / "model" / "model.safetensors")
    transitions = weights["crf.transitions"]
    assert transitions.abs().max() > 0.05  # trained away from their start at 0
    # what a tagger learns first: I-PER follows B-PER, it does not follow B-LOC
    labels = read_json(crf_run / "model" / "config.json")["id2label"]
    ids = {name: int(i) for i, name in labels.items()}
    assert transitions[ids["B-PER"], ids["I-PER"]] > transitions[ids["B-LOC"], ids["I-PER"]]


def test_the_best_checkpoint_is_loaded_back_with_its_crf(crf_run: Path) -> None:
    from safetensors.torch import load_file

    checkpoints = sorted(crf_run.glob("checkpoint-*"), key=lambda p: int(p.name[11:]))
    state = read_json(checkpoints[-1] / "trainer_state.json")
    best = Path(state["best_model_checkpoint"])
    saved = load_file(crf_run / "model" / "model.safetensors")
    kept = load_file(best / "model.safetensors")
    assert set(saved) == set(kept) and any(k.startswith("crf.") for k in saved)
    for key in saved:
        assert torch.equal(saved[key], kept[key]), key
    metrics = read_json(crf_run / "metrics.json")
    assert metrics["validation"]["eval_f1"] == pytest.approx(state["best_metric"])


def test_predictions_are_the_viterbi_path_of_the_saved_crf(
    crf_run: Path, conll_files: dict
) -> None:
    """Decoded independently: the plain transformers tagger on the saved weights gives the
    emissions, torchcrf's own decode the path; predictions.conll and ftlab.predict (the
    reloaded CRF model) must both hold it."""
    from safetensors.torch import load_file
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from ftlab.data.conll import read_conll
    from ftlab.inference.predictor import Batching, run_outputs
    from ftlab.inference.runs import load_run
    from ftlab.tasks.alignment import first_pieces

    model_dir = crf_run / "model"
    # the saved run is also a plain softmax tagger for transformers (crf.* left aside)
    plain = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    crf = torchcrf.CRF(plain.config.num_labels, batch_first=True)
    crf.load_state_dict(
        {
            k.removeprefix("crf."): v
            for k, v in load_file(model_dir / "model.safetensors").items()
            if k.startswith("crf.")
        }
    )
    gold = read_conll(conll_files["test"])
    expected, softmax_tags = [], []
    for words in gold["tokens"]:
        encoded = tokenizer(words, is_split_into_words=True, return_tensors="pt")
        positions = list(first_pieces(encoded.word_ids(0)).values())
        with torch.no_grad():
            emissions = plain(**encoded).logits[:, positions]
        every = torch.ones(emissions.shape[:2], dtype=torch.bool)
        expected.append([plain.config.id2label[t] for t in crf.decode(emissions, every)[0]])
        softmax_tags.append([plain.config.id2label[int(t)] for t in emissions[0].argmax(-1)])
    assert _predicted_tags(crf_run) == expected
    # negative control: the decoding is the CRF's, not the emissions' argmax
    assert expected != softmax_tags

    run = load_run(crf_run)
    inputs = run.task.prediction_inputs(run.task.prepare()["test"], run.tokenizer)
    outputs = run_outputs(run, inputs, Batching(batch_size=16, device="cpu", progress=False))
    tags = [[run.task.label_list[i] for i in p.argmax(-1)] for p in outputs]
    assert tags == expected


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["task=ner", "model.head=crf", "task.label_all_tokens=true"], "label_all_tokens"),
        (["task=ner", "model.head=crf", "task.class_weights=balanced"], "class_weights"),
        (["task=ner", "model.head=crf", "peft=lora"], "does not combine"),
        (["task=ner", "model.head=crf", "trainer.label_smoothing_factor=0.1"], "smooths"),
        (["task=ner", "model.head=beam"], "has the heads softmax, crf"),
        (["task=intent", "model.head=crf"], "token-classification"),
    ],
)
def test_crf_settings_that_cannot_work_are_one_line(overrides: list, message: str) -> None:
    from helpers import compose_config

    from ftlab.job.lifecycle import check_config

    with pytest.raises(FtlabError, match=message):
        check_config(compose_config(overrides))


def test_export_refuses_a_crf_run(crf_run: Path, tmp_path: Path) -> None:
    from helpers import compose_config

    from ftlab.inference.onnx_export import export

    pytest.importorskip("onnx")
    cfg = compose_config([f"run={crf_run}", f"output={tmp_path}"], config_name="export")
    with pytest.raises(FtlabError, match="Viterbi"):
        export(cfg)


def test_a_masked_lm_stage_before_a_crf_run_trains_without_the_crf() -> None:
    """adapt=tapt: the stage is a masked-LM run (its own head); the CRF is the NER run's."""
    from helpers import compose_config

    from ftlab.config.adapt import stage_config
    from ftlab.config.validate import validate
    from ftlab.job.lifecycle import check_config

    cfg = compose_config(["task=ner", "model.head=crf", "adapt=tapt"])
    check_config(cfg)
    assert cfg.task.head == "crf"
    stage = stage_config(cfg)
    validate(stage)
    assert stage.model.head is None and "head" not in stage.task
