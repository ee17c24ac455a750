"""`python -m ftlab.serve`: a finished run behind HTTP (FastAPI), batched and scaled on Ray
Serve."""
