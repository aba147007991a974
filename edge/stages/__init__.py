"""Pipeline stages: plug-ins run on each frame in the order the config lists them."""
