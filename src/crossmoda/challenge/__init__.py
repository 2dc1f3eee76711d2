"""Organiser's runner (``crossmoda-challenge``): run team algorithm images under platform rules
with the Docker SDK, score them (crashed, timed-out or silent runs count as missing), rank them,
and export images and models for grand-challenge. Import submodules directly."""
