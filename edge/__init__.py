"""gatepost edge daemon: pipeline, decisions, storage, CLI."""

__version__ = "0.1.0"
