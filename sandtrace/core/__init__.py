"""The bottom layer: event data, errors and path display that every other layer uses."""
