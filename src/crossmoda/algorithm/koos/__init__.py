"""Koos grading from hrT2 segmentations: interpretable geometric and intensity features
(:mod:`.features`, with the porus and canal axis estimated in :mod:`.anatomy`) fed to an ordinal
classifier stored as plain JSON (:mod:`.ordinal`, :mod:`.model`); tables and the
``crossmoda-train koos`` command in :mod:`.data` and :mod:`.cli`. Import submodules directly."""
