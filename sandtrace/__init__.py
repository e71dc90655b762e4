"""sandtrace: Windows Sandbox traces from disk images, as a plaso-compatible timeline."""

__version__ = "0.1.0"
