"""Fine-tuning recipes: config choices that compose with every task and model.

One module per recipe: `adapters` (peft), `freezing`, `loss` (class weights), `optim`
(layer-wise learning rates), `adversarial` (FGM), `augment` (text augmentation); `body`
finds a model's embeddings and encoder layers for them, `trainer` plugs them into the
Hugging Face `Trainer`.
"""
