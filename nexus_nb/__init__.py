"""nexus_nb."""
