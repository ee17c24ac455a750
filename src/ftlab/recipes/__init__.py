"""Fine-tuning recipes: config choices that compose with every task and model.

One module per recipe: `adapters` (peft), `freezing`, `optim` (layer-wise learning rates),
`adversarial` (FGM), `distill` (a teacher run's soft targets); `body` finds a model's
embeddings and encoder layers for them, `checks` checks their keys, `apply` applies them to
one run, and `trainer` plugs them into the Hugging Face `Trainer`. Recipes that depend on
what a task means live with the task (class weights: ftlab/tasks/loss.py) or its data
(augmentation: ftlab/data/augment.py).
"""
