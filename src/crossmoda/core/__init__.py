"""Torch-free core shared by the three containers: label maps, case names, Koos tables,
image IO, metric specifications and provenance. Import submodules directly."""
