"""Model families: what a checkpoint's family means (family.py) and where its parts are."""
