"""Optimizations: quantization of an exported model, pruning of the original module."""
