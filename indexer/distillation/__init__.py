"""Distillation: teach a small BERT (the student) to reproduce a sentence-embedding teacher's
pooled vectors on the user's own texts, and write it as a model folder (see `job.distill`)."""
