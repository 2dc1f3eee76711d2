"""VS and cochlea segmentation on hrT2 without hrT2 labels: preprocessing, ceT1->hrT2
translation (CycleGAN), segmentation (MONAI DynUNet), self-training and inference.

Submodules import torch/MONAI; import them directly (no import-time side effects here).
"""
