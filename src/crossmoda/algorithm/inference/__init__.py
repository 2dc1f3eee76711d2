"""Inference: one hrT2 image -> labels on its own grid and a Koos grade, from a model folder.
Imports :mod:`crossmoda.algorithm.model` and :mod:`crossmoda.algorithm.koos`, never
:mod:`crossmoda.algorithm.training`."""
