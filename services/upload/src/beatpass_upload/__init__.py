"""BeatPass upload gateway: producer auth, tus uploads, saves, upload minutes, reads."""
