"""Config handling, the bottom layer: TrainingArguments fields, command-line overrides,
validation, secrets, resolvers, `package://` paths and the objects a config names."""
