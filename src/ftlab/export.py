"""`python -m ftlab.export run=RUN_DIR format=onnx [quantize=int8]`: ONNX (and int8) files
of a run's model, checked against PyTorch, with size and CPU latency. Keys: conf/export.yaml.
"""

from __future__ import annotations

from omegaconf import DictConfig

from ftlab.entry import hydra_command


def export(cfg: DictConfig) -> None:
    from ftlab.inference.onnx_export import export as run_export  # torch: only when it runs

    run_export(cfg)


main = hydra_command("export", export)

if __name__ == "__main__":
    main()
