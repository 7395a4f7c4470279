"""The desktop app (PySide6): imports core, never exporters, torch or TensorFlow."""
