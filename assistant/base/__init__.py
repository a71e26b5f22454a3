"""Base records and settings: what every layer may import (nothing here reaches a model,
the store or the network).
"""
