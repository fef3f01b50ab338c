"""Model-routing policies (Avengers, fixed, random)."""
