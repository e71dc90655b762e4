"""Knowledge as data: timeliner mapping, formatters, catalogues, rules."""
