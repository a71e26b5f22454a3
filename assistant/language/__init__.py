"""Language utilities: word folding and stemming, names and their aliases, dates in text,
and the analysis of a question. Pure functions, no I/O.
"""
