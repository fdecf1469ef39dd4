"""Building blocks of the platform program: settings, shared helpers and one component per file."""
