"""The parent process: one job's life cycle (checks, records, training here or through
`ftlab.launch`), resuming, sweeps and their summary, local device pinning, and the one
reader of Hydra's runtime state."""
