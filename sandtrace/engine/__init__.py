"""Sources: dfVFS images and folders, volumes, nested disks, file collection and the run record."""
