"""Windows EventLog message strings: the sentence Event Viewer shows for a record.

A record names its provider (GUID and source name), a message identifier,
a version and its insertion strings; the sentence itself lives in the
provider's message files (the MESSAGETABLE and WEVT_TEMPLATE resources of
DLLs the system's registry names). plaso resolves it when psort formats the
record (``Message string:``); sandtrace resolves it when it extracts the
record, where it knows the file system the log came from, and gives the same
text:

- ``evidence.py``: the message files of the system the log belongs to (its
  SYSTEM and SOFTWARE hives name the providers, ``registry.py``; the DLLs are
  read with libexe, libwrc and libfwevt, ``message_files.py``);
- ``database.py``: the fallback, a winevt-rc database (plaso's, or one given
  with ``--message-db``);
- ``templates.py``: a Windows message string as a Python format string, and
  the formatting with the record's strings, as psort does;
- ``resolver.py``: both, in that order, with a cache and counts of where each
  message came from (for the ``.meta.json`` sidecar).
"""
