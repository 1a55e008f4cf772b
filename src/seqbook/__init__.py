"""seqbook: the small, tested package behind the book's chapters.

Modules (one idea each): runtime, data, train, viz, attention, lstm, embeddings, models,
albert, fusion, checks.
"""

__version__ = "0.2.0"
