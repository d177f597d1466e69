"""The parts behind :class:`runner.api.ApiWorkflowClient`: the local worker, runs, exports."""
