"""Nova I/O: the Compute API client, its error translation, cells/DB and device tags."""
