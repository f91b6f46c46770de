"""Deterministic thermal scene simulator: quays, water, people, falls, birds, boats, AGC, noise."""
