"""Reading documents, embedding them with a BERT encoder, and writing them to a store."""
