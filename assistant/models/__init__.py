"""Models behind small factories: embedders, the relevance judges, chat models; the one
place that loads weights.
"""
