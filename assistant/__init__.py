"""News assistant: cited question answering over news articles.

The package is a library core (ingest, retrieve, answer, verify) with thin
front ends (`cli`, `web`, `evaluate`). Importing it is cheap: heavy libraries
load only when a backend is built.
"""

__version__ = "0.1.0"
