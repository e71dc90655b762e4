"""Format parsers, one module each; ``manager`` finds every parser class in them."""
