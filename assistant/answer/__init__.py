"""Answering: citations and their checks, the extractive composer, follow-ups, prompts, the refusal gate."""
