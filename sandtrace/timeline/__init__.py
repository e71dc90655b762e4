"""From event data to sorted events: the timeliner (timestamps), the tagger (labels) and psort's order."""
