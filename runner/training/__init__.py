"""Self-supervised training of the embedding backbone (``worker.enable_training``)."""
