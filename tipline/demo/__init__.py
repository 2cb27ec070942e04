"""Sample data for `tipline demo`."""
