"""Studio's built-in melody sketcher: an LSTM trained on public-domain folk tunes, with
constrained decoding (key, scale, metre, range) for new, continue, vary and interpolate."""

__version__ = "1.0.0"
