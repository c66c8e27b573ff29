"""A realistic vector-search benchmark: the Python standard library as a corpus of code chunks.

:mod:`.dataset` turns the running interpreter's ``Lib/`` into chunks (one per top-level
function, class and method, plus docstrings and text files), workspaces of very different sizes,
TF-IDF + SVD embeddings, held-out and cross-workspace queries and an ``ast`` code graph;
:mod:`.run` loads it through aura-db and measures its search against the bare SQL statement of
the path it chose and an exact numpy search. ``python -m benchmarks.realistic --help``.
"""
