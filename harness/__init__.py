"""sptx harness: datasets, experiments, measurement, records and reports around the KGE training steps."""

__version__ = "0.1.0"
