"""More than one process: the launch plan from the hardware keys, DeepSpeed's config,
`accelerate launch` of the ranks, and the worker entry each rank runs."""
