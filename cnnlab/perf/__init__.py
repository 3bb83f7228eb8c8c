"""Performance: timing, the machine profile, the roofline model and the benchmark suite."""
