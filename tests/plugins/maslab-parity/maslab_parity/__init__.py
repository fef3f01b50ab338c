"""maslab-parity: a test plug-in (a benchmark and a system) that lives outside maslab."""
