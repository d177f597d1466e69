"""Embedding every sample with a Lightning model, cached by content and model."""
