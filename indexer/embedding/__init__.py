"""The model and everything that turns text into vectors: loading and fingerprinting the encoder,
tokenizing, cutting windows, pooling, and looking inside (token views, explanations,
comparisons)."""
