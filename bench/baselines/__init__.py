"""Plain baselines that the benchmark runs beside wxstream, each as its own process."""
