"""The engine: source -> volumes -> collector -> extraction -> timeliner -> sorter."""
