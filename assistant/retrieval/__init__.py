"""Retrieval: the Chroma store, the lexical index beside it, filters, and the hybrid
retriever that fuses and re-ranks.
"""
