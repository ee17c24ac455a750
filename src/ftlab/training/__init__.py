"""What every rank runs: `train()` (seed, data, model, Trainer, records), finding and
loading models, Trainer callbacks, and the trackers."""
