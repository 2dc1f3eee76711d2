"""Unpaired ceT1 -> hrT2 image translation (CycleGAN with MIND and atlas terms)."""
