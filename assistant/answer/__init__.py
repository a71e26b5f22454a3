"""Answering: citations and their checks, the extractive and across-the-collection
composers, follow-ups, prompts, the refusal gate.
"""
