"""`python -m ftlab.serve run=RUN_DIR`: a finished run behind HTTP. Keys: conf/serve.yaml."""

from __future__ import annotations

from omegaconf import DictConfig

from ftlab.entry import hydra_command


def serve(cfg: DictConfig) -> None:
    from ftlab.serve.command import serve as run_service  # torch, Ray: only when it runs

    run_service(cfg)


main = hydra_command("serve", serve)

if __name__ == "__main__":
    main()
