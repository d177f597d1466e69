"""Selection inputs other than embeddings: predictions, scores, metadata, random values."""
