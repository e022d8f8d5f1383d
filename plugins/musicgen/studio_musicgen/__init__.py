"""Text-to-music audio through a local MusicGen model folder."""
