"""VS and cochlea segmentation and Koos grading on hrT2 without hrT2 labels.

``model`` (the model folder: :class:`~crossmoda.algorithm.model.spec.ModelSpec`, network,
shipped models), ``inference`` (one image -> labels + grade; the container), ``koos`` (the
grader) and ``training`` (the chain that makes a model folder). Nothing outside ``training``
imports it (see docs/architecture.md). Submodules import torch/MONAI; import them directly.
"""
