"""Where the quantizers work: a scratch folder in the staging folder, removed before
the package is assembled (it holds float copies, candidates and a SavedModel)."""

QUANTIZATION_WORK = "quantization-work"
