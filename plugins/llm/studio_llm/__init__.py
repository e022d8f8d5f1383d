"""Local language models (Hugging Face folders, GGUF where transformers reads it), streamed."""
