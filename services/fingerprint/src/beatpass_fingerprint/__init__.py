"""BeatPass fingerprint service: Chromaprint fingerprints and the duplicate index."""
