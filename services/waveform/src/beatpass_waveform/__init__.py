"""BeatPass waveform service: audiowaveform-compatible peaks (JSON, .dat) and PNG previews."""
