"""The bottom layer, which every other layer may use: event data, errors, path display,
and the names that mark Windows Sandbox (``sandbox_names``)."""
