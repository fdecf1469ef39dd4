"""The reference application: the contract an application meets to run on this platform."""
