"""Using a finished run: predictions over new text (ftlab.predict), ensembles, ONNX export."""
