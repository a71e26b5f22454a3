"""Base records and settings: what every layer may import (no logic that reaches a model, the store or the network)."""
