"""A word across the store: where it occurs, what the model makes of each occurrence, and how
the occurrences group by sense (`report.build`, behind `Collection.concordance`)."""
