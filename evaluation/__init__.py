"""Replay recorded clips through the live path and score alerts against ground truth."""
