"""`python -m ftlab.export run=RUN_DIR format=onnx [quantize=int8]`: ONNX (and int8) files
of a run's model, checked against PyTorch, with size and CPU latency. Keys: conf/export.yaml.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from ftlab.entry import check_entry_keys, one_line_errors


@hydra.main(version_base="1.3", config_path="pkg://ftlab.conf", config_name="export")
def hydra_entry(cfg: DictConfig) -> None:
    from ftlab.inference.onnx_export import export

    with one_line_errors():
        export(cfg)


def main() -> None:
    with one_line_errors(exit_code=2):
        check_entry_keys(sys.argv[1:], "export")
    hydra_entry()


if __name__ == "__main__":
    main()
