"""Language utilities: word folding and stemming, names and their aliases, dates in text. Pure functions, no I/O."""
