"""Ingestion: reading sources, cleaning web text, metadata, chunking, and writing chunks
to the store.
"""
