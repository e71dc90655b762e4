"""Writers that build test evidence containers (disk image formats) from raw bytes."""
