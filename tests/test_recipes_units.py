"""Recipes on a tiny real BERT, without training: trainable-parameter counts (computed here
by arithmetic from the model's dimensions), class-weighted losses on known batches,
layer-wise learning rates, augmentation, and the config errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import compose_config, local_data

from ftlab.config.targets import build_task
from ftlab.data.augment import augment_dataset
from ftlab.errors import FtlabError
from ftlab.job.lifecycle import check_config
from ftlab.recipes.apply import prepare_model
from ftlab.recipes.body import count_parameters
from ftlab.tasks.loss import WeightedLoss, class_weights

LABELS = 6  # TREC coarse intents


def sizes(config) -> dict[str, int]:
    """Parameter counts of BERT's parts, from its dimensions (weights + biases, LayerNorms)."""
    h, i = config.hidden_size, config.intermediate_size
    embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * h
    layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
    return {
        "embeddings": embeddings + 2 * h,
        "layer": layer,
        "layers": config.num_hidden_layers,
        "pooler": h * h + h,
        "classifier": h * LABELS + LABELS,
        "hidden": h,
        "intermediate": i,
    }


def expected_trainable(mode: str, s: dict[str, int]) -> int:
    everything = s["embeddings"] + s["layers"] * s["layer"] + s["pooler"] + s["classifier"]
    h, layers = s["hidden"], s["layers"]
    return {
        "full": everything,
        "embeddings": everything - s["embeddings"],
        "first_layer": everything - s["layer"],
        "embeddings_and_first_layer": everything - s["embeddings"] - s["layer"],
        "encoder": s["pooler"] + s["classifier"],
        # r=4 on query and value: A (r x in) + B (out x r) each, plus the classifier copy
        "lora": layers * 2 * 4 * (h + h) + s["classifier"],
        # AdaLoRA starts at init_r=12: A (r x in), B (out x r) and the singular values E (r)
        "adalora": layers * 2 * (12 * h + h * 12 + 12) + s["classifier"],
        # IA3: a vector of out_features on key and value; of in_features on the feed-forward
        # matches of `output.dense` (the attention output, h, and the FFN output, intermediate)
        "ia3": layers * (h + h + h + s["intermediate"]) + s["classifier"],
        "prompt_tuning": 20 * h + s["classifier"],
    }[mode]


MODES = {
    "full": [],
    "embeddings": ["model.freeze=embeddings"],
    "first_layer": ["model.freeze_layers=1"],
    "embeddings_and_first_layer": ["model.freeze=embeddings", "model.freeze_layers=1"],
    "encoder": ["model.freeze=encoder"],
    "lora": ["peft=lora", "peft.r=4"],
    "adalora": ["peft=adalora", "peft.init_r=12"],
    "ia3": ["peft=ia3"],
    "prompt_tuning": ["peft=prompt_tuning", "peft.num_virtual_tokens=20"],
}


@pytest.mark.parametrize("mode", list(MODES))
def test_trainable_parameters_match_the_arithmetic(mode: str, tiny_model_dir: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    cfg = compose_config([f"model.name_or_path={tiny_model_dir}", *MODES[mode]])
    check_config(cfg)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=LABELS)
    model = prepare_model(cfg, model, "SEQ_CLS", total_steps=10)
    s = sizes(model.config)
    counts = count_parameters(model)
    assert counts["trainable_parameters"] == expected_trainable(mode, s)
    if mode in ("full", "embeddings", "first_layer", "encoder"):
        assert counts["total_parameters"] == expected_trainable("full", s)
    if mode == "encoder":
        trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
        assert trainable == {"bert", "classifier"}  # bert.pooler and the classifier
        assert all(p.requires_grad for p in model.bert.pooler.parameters())


def test_lora_on_a_token_classifier_keeps_its_head_trainable(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForTokenClassification

    cfg = compose_config([f"model.name_or_path={tiny_model_dir}", "peft=lora", "peft.r=2"])
    model = AutoModelForTokenClassification.from_pretrained(tiny_model_dir, num_labels=9)
    model = prepare_model(cfg, model, "TOKEN_CLS", total_steps=10)
    h, layers = model.config.hidden_size, model.config.num_hidden_layers
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("classifier" in n for n in trainable)
    assert count_parameters(model)["trainable_parameters"] == layers * 2 * 2 * (2 * h) + h * 9 + 9


# -- class weights ------------------------------------------------------------------------
def test_class_weights_raise_the_loss_of_the_class_they_favour() -> None:
    # example 0 (class 0) is predicted well, example 1 (class 1) badly
    logits = torch.tensor([[3.0, 0.0, 0.0], [2.0, 0.5, 0.0]])
    labels = torch.tensor([0, 1])
    per_example = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    plain = per_example.mean()
    assert WeightedLoss(torch.ones(3), False)({"logits": logits}, labels) == pytest.approx(
        float(plain)
    )
    # weights that average 1 over the batch: favouring the badly predicted class raises the
    # loss, favouring the well predicted one lowers it
    up = WeightedLoss(torch.tensor([0.5, 1.5, 1.0]), False)({"logits": logits}, labels)
    down = WeightedLoss(torch.tensor([1.5, 0.5, 1.0]), False)({"logits": logits}, labels)
    assert float(down) < float(plain) < float(up)
    assert float(up) == pytest.approx(float((0.5 * per_example[0] + 1.5 * per_example[1]) / 2))


def test_token_class_weights_skip_ignored_pieces() -> None:
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [5.0, -5.0]]])
    labels = torch.tensor([[0, 0, -100]])
    per_token = torch.nn.functional.cross_entropy(logits[0, :2], labels[0, :2], reduction="none")
    loss = WeightedLoss(torch.tensor([3.0, 1.0]), False)({"logits": logits}, labels)
    assert float(loss) == pytest.approx(float(3 * per_token.sum() / 2))


def test_multilabel_pos_weight_raises_the_loss_of_missed_positives() -> None:
    logits = torch.tensor([[-2.0, 2.0], [-2.0, -2.0]])
    labels = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    plain = WeightedLoss(torch.ones(2), True)({"logits": logits}, labels)
    assert float(plain) == pytest.approx(
        float(torch.nn.functional.binary_cross_entropy_with_logits(logits, labels))
    )
    weighted = WeightedLoss(torch.tensor([5.0, 1.0]), True)({"logits": logits}, labels)
    assert float(weighted) > float(plain)


def test_balanced_weights_are_inverse_frequencies() -> None:
    labels = [0, 0, 0, 1]  # n / (classes * count): 4/(2*3), 4/(2*1)
    weights = class_weights("balanced", labels, ["a", "b"], False)
    assert weights.tolist() == pytest.approx([4 / 6, 2.0])
    multi = class_weights("balanced", [[1, 0], [1, 1], [1, 0], [0, 0]], ["a", "b"], True)
    assert multi.tolist() == pytest.approx([1 / 3, 3.0])  # negatives / positives
    tokens = class_weights("balanced", [[-100, 0, 1, -100], [0, 0, -100]], ["O", "B"], False)
    assert tokens.tolist() == pytest.approx([4 / 6, 2.0])
    with pytest.raises(FtlabError, match="no training example has the label"):
        class_weights("balanced", [0, 0], ["a", "b"], False)
    with pytest.raises(FtlabError, match="2 positive numbers"):
        class_weights([1.0], [0, 1], ["a", "b"], False)


def test_task_class_weights_come_from_the_tokenized_training_labels(
    tiny_model_dir: Path, conll_files: dict, multilabel_files: dict
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)

    def task_and_train(*overrides: str):
        cfg = compose_config([*overrides, "task.class_weights=balanced"])
        task = build_task(cfg.task)
        return task, task.tokenize(task.prepare(), tokenizer).splits["train"]

    ner, train = task_and_train("task=ner", *local_data(conll_files))
    loss = ner.loss_function(train)
    weights = dict(zip(ner.label_list, loss.weights.tolist(), strict=True))
    # "O" is most tags: below 1; every entity tag is rarer than average: above 1
    assert weights["O"] < 1 < min(w for tag, w in weights.items() if tag != "O")
    assert not loss.multi_label

    multi, train = task_and_train(
        "task=legal_multilabel", *local_data(multilabel_files), "task.label_column=labels"
    )
    loss = multi.loss_function(train)
    positives = np.asarray(train["labels"]).sum(axis=0)
    assert loss.multi_label
    assert loss.weights.tolist() == pytest.approx(((len(train) - positives) / positives).tolist())


def test_speed_and_memory_keys_reach_training_arguments(tmp_path: Path) -> None:
    from ftlab.config.fields import training_arguments_kwargs

    cfg = compose_config(
        [
            "trainer.gradient_checkpointing=true",
            "trainer.gradient_accumulation_steps=4",
            "hardware.torch_compile=true",
            "hardware.bf16=true",
        ]
    )
    check_config(cfg)
    kwargs = training_arguments_kwargs(cfg, tmp_path)
    assert kwargs["gradient_checkpointing"] is True
    assert kwargs["gradient_accumulation_steps"] == 4
    assert kwargs["torch_compile"] is True and kwargs["bf16"] is True


# -- layer-wise learning rates ------------------------------------------------------------
def test_layerwise_decay_and_head_learning_rate(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, TrainingArguments

    from ftlab.recipes.trainer import RecipeTrainer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=LABELS)
    model.bert.embeddings.requires_grad_(False)  # frozen parameters stay out of the optimizer
    args = TrainingArguments(
        output_dir=str(tmp_path), learning_rate=1e-3, weight_decay=0.01, use_cpu=True
    )
    trainer = RecipeTrainer(model=model, args=args, layerwise_lr=(0.5, 0.02))
    optimizer = trainer.create_optimizer()
    assert isinstance(optimizer, torch.optim.AdamW)
    found = {
        id(p): (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]
    }
    named = dict(model.named_parameters())
    expected = {
        "bert.encoder.layer.0.attention.self.query.weight": (1e-3 * 0.5, 0.01),
        "bert.encoder.layer.0.attention.self.query.bias": (1e-3 * 0.5, 0.0),
        "bert.encoder.layer.1.output.dense.weight": (1e-3, 0.01),
        "bert.encoder.layer.1.output.LayerNorm.weight": (1e-3, 0.0),
        "bert.pooler.dense.weight": (0.02, 0.01),
        "classifier.weight": (0.02, 0.01),
        "classifier.bias": (0.02, 0.0),
    }
    for name, (lr, wd) in expected.items():
        assert found[id(named[name])] == (pytest.approx(lr), wd), name
    assert id(named["bert.embeddings.word_embeddings.weight"]) not in found
    assert len(found) == sum(p.requires_grad for p in model.parameters())


# -- augmentation -------------------------------------------------------------------------
def test_augmentation_changes_training_data_only_and_repeats(intent_files: dict) -> None:
    def prepare(*overrides: str):
        cfg = compose_config(
            ["task=intent", *local_data(intent_files), "task.label_column=label", *overrides]
        )
        return build_task(cfg.task).prepare()

    plain = prepare()
    augmented = prepare("task.augment=[delete,swap]", "task.augment_rate=0.3")
    again = prepare("task.augment=[delete,swap]", "task.augment_rate=0.3")
    size = len(plain["train"])
    assert len(augmented["train"]) == 2 * size
    assert augmented["train"]["text"] == again["train"]["text"]  # deterministic
    assert augmented["train"]["text"][:size] == plain["train"]["text"]  # originals kept
    copies = augmented["train"]["text"][size:]
    assert augmented["train"]["label"][size:] == plain["train"]["label"]
    changed = sum(a != b for a, b in zip(copies, plain["train"]["text"], strict=True))
    assert changed > 0.8 * size
    for split in ("validation", "test"):
        assert augmented[split]["text"] == plain[split]["text"]
    other_seed = augment_dataset(plain["train"], ["text"], "delete", 0.3, 1, seed=7)
    assert other_seed["text"][size:] != copies


# -- config errors ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["peft=lora", "peft.rr=3"], "unknown config key 'peft.rr': did you mean 'r'"),
        (["peft.r=3"], "no peft method is chosen; add peft=lora"),
        (["peft=prompt_tuning", "peft.merge=true"], "cannot be merged"),
        (["peft=lora", "model.freeze=encoder"], "already freezes"),
        (["peft=adalora", "trainer.load_best_model_at_end=true"], "load_best_model_at_end=false"),
        (["peft=adalora", "peft.init_r=4"], "peft.target_r=8 is above peft.init_r=4"),
        (["model.freeze=all"], "model.freeze must be one of embeddings, encoder"),
        (["model.freeze_layers=-1"], "model.freeze_layers must be a whole number"),
        (["model.frezee=encoder"], "did you mean 'freeze'"),
        (["optimizer.layerwise_lr_decay=1.5"], r"layerwise_lr_decay must be in \(0, 1\]"),
        (["optimizer.head_learning_rate=0"], "head_learning_rate must be a number above 0"),
        (["trainer.adversarial=pgd"], "trainer.adversarial must be one of fgm"),
        (["trainer.adversarial=fgm", "trainer.adversarial_epsilon=0"], "adversarial_epsilon"),
        (
            ["trainer.train_sampling_strategy=group_by_length", "trainer.length_group_batches=1"],
            "length_group_batches must be a whole number of batches of 2 or more",
        ),
        (["task.class_weight=balanced"], "did you mean 'class_weights'"),
        (["task.class_weights=inverse"], "task.class_weights must be 'balanced' or a list"),
        (["task.augment=shuffle"], "task.augment must be synonym, delete, swap"),
        (["task.augment=delete", "task.augment_rate=1.5"], "augment_rate must be between"),
    ],
)
def test_bad_recipe_settings_fail_validation(overrides: list[str], message: str) -> None:
    cfg = compose_config(overrides)
    with pytest.raises(FtlabError, match=message):
        check_config(cfg)


def test_misspelt_recipe_training_keys_name_the_closest() -> None:
    from ftlab.config.overrides import normalize_overrides

    with pytest.raises(FtlabError, match=r"did you mean 'optimizer\.layerwise_lr_decay'"):
        normalize_overrides(["optimizer.layerwise_lr_decy=0.9"])


def test_fgm_alone_perturbs_the_embeddings_along_the_gradient(tiny_model_dir: Path) -> None:
    """Without augmentation or anything else: the attack pass sees embedding outputs moved
    by exactly epsilon (per example) along the clean gradient, raising the loss; outside
    the two passes the model is untouched."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ftlab.recipes.adversarial import FGM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    model.eval()  # no dropout: the passes differ only by the perturbation
    batch = tokenizer(["What is a star ?", "Who wrote Hamlet ?"], padding=True, return_tensors="pt")
    labels = torch.tensor([0, 1])
    fgm = FGM(model, epsilon=0.5)
    with fgm.clean():
        clean = model(**batch, labels=labels).loss
        clean.backward()
        gradient = fgm._output.grad.clone()
    with fgm.attack():
        attacked = model(**batch, labels=labels).loss
    plain = model(**batch, labels=labels).loss  # neither pass: the hook does nothing
    # registered after FGM's hook, this one sees what the encoder receives
    hooked: list[torch.Tensor] = []
    model.get_input_embeddings().register_forward_hook(lambda m, i, o: hooked.append(o.detach()))
    with fgm.clean():
        model(**batch, labels=labels).loss.backward()
    with fgm.attack():
        model(**batch, labels=labels)
    shift = hooked[1] - hooked[0]
    norms = shift.flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, 0.5), atol=1e-4)
    cosine = torch.nn.functional.cosine_similarity(shift.flatten(1), gradient.flatten(1))
    assert (cosine > 0.99).all()
    assert attacked > clean  # uphill: the perturbation raises the loss
    assert torch.allclose(plain, clean)  # and leaves the model as it was
