"""The networks: the paper's VGG and deep linear network (:mod:`.models`)."""
