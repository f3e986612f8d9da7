"""prunedistill."""
