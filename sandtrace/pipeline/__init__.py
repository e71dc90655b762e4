"""Extraction run end to end: sources to parsers in this process or in workers, events to sorted output."""
