"""Task kinds. `base.py` is the interface every kind implements; one module per kind
(`classification`, `token_classification`, `regression`, `mlm`) holds everything the kind
means, with its config defaults in the yaml file of the same name. `legal_cls`, `sentiment`,
`intent` ... are configs of a kind (conf/task/). Shared pieces: labels, sub-word alignment,
text columns, outputs (softmax ...), class-weighted losses."""
