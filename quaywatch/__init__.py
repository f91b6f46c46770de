"""quaywatch: harbourfront thermal-camera drowning alerts."""

__version__ = "0.1.0"
