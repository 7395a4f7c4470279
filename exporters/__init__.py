"""The export worker and everything that needs the heavy ML libraries.

Only this package imports torch, ultralytics, timm, transformers, optimum and
the converters, always inside functions, and always in a worker process.
"""
