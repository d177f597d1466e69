"""Object-level (crop) selection: every predicted object of a task is a sample (its crop).

``plan`` decides whether a selection is at object level, ``objects`` turns a task's
predictions into typed crops, ``embed`` feeds them to the embedding stage, ``inputs`` resolves
SCORES / PREDICTIONS / ``lightly.*`` metadata per crop, ``files`` writes the selected crops
under ``.lightly/crops/<task>/`` and ``outputs`` describes them in the run's files.
"""
