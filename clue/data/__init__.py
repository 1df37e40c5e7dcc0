"""Data recipes, fetching, building and verifying the six test sets; ``load_dataset`` for Hugging Face users."""


def load_dataset(task: str, data_dir=None):
    """A built test set as a ``datasets.Dataset`` (see :mod:`clue.data.hf`)."""
    from clue.data.hf import load_dataset as _load

    return _load(task, data_dir)


__all__ = ["load_dataset"]
