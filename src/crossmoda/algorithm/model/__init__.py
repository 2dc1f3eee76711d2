"""The model folder, the contract between training and inference: :class:`ModelSpec`
(``model.json``), the network built from it, and the models shipped with the package.
Imports nothing from :mod:`crossmoda.algorithm.training`."""
