"""The offline demo, for users: ``run`` (``clue demo``), ``synthetic`` (raw files of the real formats)
and ``upstream/`` (the kit's own demo prompts, the ``demo`` protocol's source)."""
