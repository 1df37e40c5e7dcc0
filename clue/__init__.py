"""CLUE kit: rebuild, evaluate and report the Clinical Language Understanding Evaluation."""

__version__ = "0.1.0"
