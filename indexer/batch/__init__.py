"""The CPU side of the local batch job: the input cut into parts, each part examined (read,
hashed against the store, tokenized), in worker processes or in the indexing process."""
