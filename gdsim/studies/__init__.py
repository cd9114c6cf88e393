"""Studies: the seed questions and the experiments built on gdsim (the core never imports them)."""
