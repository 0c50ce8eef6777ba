"""BeatPass catalog service: assembles track and collection records from the pipeline's events."""
