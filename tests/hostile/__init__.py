"""Hostile inputs sent to a live gateway: see ``corpus.py`` and ``test_corpus.py``."""
