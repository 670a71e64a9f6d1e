"""The demo dataset and the generator at scale."""
