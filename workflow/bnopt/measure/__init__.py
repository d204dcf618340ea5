"""Measurements on trained runs: the per-step probes (:mod:`.probes`), their exact
replay (:mod:`.replay`), loss surfaces and interpolation lines (:mod:`.surface`)."""
