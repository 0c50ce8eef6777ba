"""BeatPass validation service: WAV and cover-art checks, technical metadata."""
