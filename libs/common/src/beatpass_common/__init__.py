"""Shared foundations of the BeatPass upload platform's services."""
