"""Model manifest and the fetch step; the weights themselves are never committed."""

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
