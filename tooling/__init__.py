"""Tools that run the program (offline harness, policy evaluation, plan): not parts of it."""
