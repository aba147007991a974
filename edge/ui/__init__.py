"""The guard's touchscreen: a local web app served by the daemon."""
