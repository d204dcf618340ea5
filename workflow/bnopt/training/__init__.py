"""From data to trained checkpoints: datasets (:mod:`.data`), device-resident problems and
their minibatches (:mod:`.problems`), the deterministic, resumable loop (:mod:`.train`)."""
