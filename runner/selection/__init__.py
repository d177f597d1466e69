"""The selection engine: Lightly's strategies combined greedily."""
