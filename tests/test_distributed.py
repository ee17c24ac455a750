"""Multi-process runs as users start them: `python -m ftlab.run hardware=ddp ...`, real
processes (2 CPU ranks, gloo) launched through `accelerate launch`, tiny BERT, real TREC data.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import compose_config, ftlab, in_process, local_data

from ftlab.config.fields import training_arguments_kwargs
from ftlab.errors import FtlabError
from ftlab.job.lifecycle import check_config
from ftlab.launch.accelerate import accelerate_config
from ftlab.launch.plan import launch_plan
from ftlab.records import read_json

# A short run: 1,200 training questions cut to 256, 8 optimizer steps of 32 examples.
SHORT = [
    "task=intent",
    "task.label_column=label",
    "task.max_train_samples=256",
    "task.max_eval_samples=64",
    "task.max_seq_length=48",
    "trainer.max_steps=8",
    "trainer.logging_steps=2",
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
    "trainer.disable_tqdm=true",
    "optimizer.learning_rate=2e-3",
    # gathered over the ranks each step: 8 x 32 = 256 examples, each once, if the ranks read
    # different batches
    "trainer.include_num_input_tokens_seen=non_padding",
]


def _only_run_dir(root: Path) -> Path:
    runs = [p for p in (root / "experiments/runs/intent").glob("*/*") if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def _tokens_seen(run_dir: Path) -> int:
    """The Trainer's count of real (non-padding) input tokens at the run's last log."""
    log = read_json(run_dir / "train_log.json")
    counts = [e["num_input_tokens_seen"] for e in log if "num_input_tokens_seen" in e]
    assert counts, f"no token counts in {run_dir / 'train_log.json'}"
    return counts[-1]


@pytest.fixture(scope="module")
def two_process_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, intent_files: dict
) -> Path:
    """2 ranks, 16 per device, no accumulation: an effective batch of 32."""
    cwd = tmp_path_factory.mktemp("ddp")
    result = ftlab(
        "hardware=ddp",
        "hardware.num_processes=2",
        f"model.name_or_path={tiny_model_dir}",
        *local_data(intent_files),
        *SHORT,
        "trainer.per_device_train_batch_size=16",
        "trainer.gradient_accumulation_steps=1",
        cwd=cwd,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return _only_run_dir(cwd)


def test_two_processes_share_one_config_and_one_run_directory(two_process_run: Path) -> None:
    env = read_json(two_process_run / "env.json")
    assert env["world_size"] == 2  # read from the process group inside rank 0
    assert env["effective_train_batch_size"] == 32  # 16 per device x 2 processes x 1
    ranks = [read_json(two_process_run / f"rank-{r}.json") for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["world_size"] == 2 for r in ranks)
    assert ranks[0]["pid"] != ranks[1]["pid"]
    written = hashlib.sha256((two_process_run / "config.yaml").read_bytes()).hexdigest()
    assert ranks[0]["config_sha256"] == ranks[1]["config_sha256"] == written
    assert read_json(two_process_run / "status.json")["status"] == "completed"
    metrics = read_json(two_process_run / "metrics.json")
    assert metrics["train"]["train_loss"] > 0 and "test_accuracy" in metrics["test"]
    assert list(two_process_run.glob("rank-*.error")) == []
    assert len((two_process_run / "predictions.jsonl").read_text().splitlines()) == 64
    assert (two_process_run / "model/config.json").is_file()
    # rank 0 logs to run.log at INFO; rank 1 logs warnings only
    log = (two_process_run / "run.log").read_text()
    assert "[rank 0]" in log and "effective train batch size 32" in log


def test_one_process_with_accumulation_matches_two_processes(
    two_process_run: Path, tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """Same data, seed and effective batch (16 x 1 process x 2 accumulation steps).

    Accelerate hands consecutive batches of the one seeded order to the two ranks, so both
    runs see the same 32 examples per step. They still differ slightly: each rank starts
    its dropout masks from the same seed (the single process draws them in sequence), and
    the all-reduce sums gradients in another order. 8 steps stay within 2% of each other.
    """
    from ftlab.job.lifecycle import run_job

    def one_process(accumulation: int) -> dict:
        cfg = compose_config(
            [
                "hardware=cpu",
                f"model.name_or_path={tiny_model_dir}",
                *local_data(intent_files),
                *SHORT,
                "trainer.per_device_train_batch_size=16",
                f"trainer.gradient_accumulation_steps={accumulation}",
            ]
        )
        run_job(cfg, tmp_path / str(accumulation))
        assert (
            read_json(tmp_path / str(accumulation) / "env.json")["effective_train_batch_size"]
            == 16 * accumulation
        )
        return read_json(tmp_path / str(accumulation) / "metrics.json")

    one, two = one_process(2), read_json(two_process_run / "metrics.json")
    assert one["train"]["train_loss"] == pytest.approx(two["train"]["train_loss"], rel=0.02)
    assert one["validation"]["eval_loss"] == pytest.approx(two["validation"]["eval_loss"], rel=0.02)
    # the losses cannot tell ranks that read the same batches (a run on 128 examples twice)
    # from ranks that share the work; the real-token count can: the one process passes over
    # the 256 examples once, so the two ranks together must count exactly its tokens
    one_tokens, two_tokens = _tokens_seen(tmp_path / "2"), _tokens_seen(two_process_run)
    assert two_tokens == one_tokens > 256 * 5  # questions of more than 5 tokens


@pytest.mark.timeout(240)  # a hung launch fails here, not at the suite-wide 900 s
def test_a_failing_rank_fails_the_whole_run_quickly(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """Rank 1 alone cannot write its checkpoint file (a directory is in the way) at step 2.

    Rank 0 is then waiting for rank 1 in the next gradient all-reduce: the launcher must
    stop it, and the parent must report rank 1's error, instead of waiting for the
    30-minute collective timeout.
    """
    run_dir = tmp_path / "run"
    (run_dir / "checkpoint-2" / "rng_state_1.pth").mkdir(parents=True)
    started = time.monotonic()
    # the parent in this process: the ranks are processes of their own either way
    result = in_process(
        "ftlab.run",
        "hardware=ddp",
        "hardware.num_processes=2",
        f"model.name_or_path={tiny_model_dir}",
        *local_data(intent_files),
        *SHORT,
        "trainer.save_strategy=steps",
        "trainer.save_steps=2",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr[-4000:]
    assert elapsed < 150, elapsed
    errors = [line for line in result.stderr.splitlines() if line.startswith("ftlab: error: rank")]
    assert len(errors) == 1 and "Is a directory" in errors[0], result.stderr[-4000:]
    status = read_json(run_dir / "status.json")
    assert status["status"] == "failed"
    assert status["error"].startswith("rank 1 failed: ") and "Is a directory" in status["error"]
    assert "_save_rng_state" in read_json(run_dir / "rank-1.error")["traceback"]
    assert not (run_dir / "metrics.json").exists()


@pytest.mark.slow
def test_two_machines_on_localhost_make_one_run(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """The multi-machine path for real: two launchers (machine ranks 0 and 1) of one process
    each, meeting at 127.0.0.1 and sharing one run directory, as two nodes would."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run_dir = tmp_path / "run"
    machines = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ftlab.run",
                "hardware=ddp",
                "hardware.num_processes=1",
                "hardware.num_machines=2",
                f"hardware.machine_rank={rank}",
                "hardware.main_process_ip=127.0.0.1",
                f"hardware.main_process_port={port}",
                f"model.name_or_path={tiny_model_dir}",
                *local_data(intent_files),
                *SHORT,
                f"hydra.run.dir={run_dir}",
            ],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outcomes = [machine.communicate(timeout=300) for machine in machines]
    assert [m.returncode for m in machines] == [0, 0], [err[-3000:] for _, err in outcomes]
    ranks = [read_json(run_dir / f"rank-{r}.json") for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["config_sha256"] == ranks[1]["config_sha256"]
    assert read_json(run_dir / "status.json")["status"] == "completed"
    assert read_json(run_dir / "env.json")["world_size"] == 2
    assert (run_dir / "accelerate-machine1.yaml").is_file() and (run_dir / "metrics.json").is_file()


# -- configs and launch plans: no processes started -------------------------------------


@pytest.mark.parametrize("hardware", ["ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3"])
def test_multi_process_hardware_configs_validate(hardware: str) -> None:
    cfg = compose_config([f"hardware={hardware}", "hardware.num_processes=4"])
    check_config(cfg)
    assert launch_plan(cfg.hardware).world_size == 4


def test_fsdp_config_is_what_transformers_expects(tmp_path: Path) -> None:
    from transformers import TrainingArguments

    # bf16 and tf32 off only because the test machine has no GPU
    cfg = compose_config(
        ["hardware=fsdp", "hardware.bf16=false", "hardware.tf32=false", "hardware.use_cpu=true"]
    )
    plugin = TrainingArguments(**training_arguments_kwargs(cfg, tmp_path)).fsdp_plugin_args
    assert plugin["fsdp_version"] == 2
    assert plugin["auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert plugin["reshard_after_forward"] is True  # full shard
    assert plugin["state_dict_type"] == "FULL_STATE_DICT"


def test_two_machines_launch_plan() -> None:
    cfg = compose_config(
        [
            "hardware=ddp",
            "hardware.num_processes=8",
            "hardware.num_machines=2",
            "hardware.machine_rank=1",
            "hardware.main_process_ip=10.0.0.1",
        ]
    )
    plan = launch_plan(cfg.hardware)
    assert (plan.world_size, plan.main_machine) == (16, False)
    config = accelerate_config(plan)
    assert config["num_processes"] == 16  # Accelerate counts every machine's processes
    assert config["machine_rank"] == 1 and config["main_process_ip"] == "10.0.0.1"
    assert config["main_process_port"] == 29500


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["hardware.num_machines=2"], "set hardware.main_process_ip=HOST"),
        (["hardware.machine_rank=1"], "hardware.machine_rank must be 0 .. 0"),
        (["hardware.num_processes=0"], "hardware.num_processes must be a whole number"),
    ],
)
def test_bad_launch_keys_name_the_fix(overrides: list, message: str) -> None:
    cfg = compose_config(["hardware=ddp", "hardware.num_processes=2", *overrides])
    with pytest.raises(FtlabError, match=message):
        launch_plan(cfg.hardware)


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("deepspeed") is not None,
    reason="DeepSpeed is installed",
)
def test_deepspeed_missing_is_one_line(tmp_path: Path) -> None:
    result = in_process(
        "ftlab.run",
        "hardware=deepspeed_zero2",
        "hardware.num_processes=2",
        "hardware.require_cuda=false",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "ftlab: error: DeepSpeed is not installed: pip install 'ftlab[deepspeed]'" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
