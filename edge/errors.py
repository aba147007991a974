"""One base error for gatepost; each subclass also inherits the matching builtin."""


class GatepostError(Exception):
    """Base of every error gatepost raises on purpose."""


class ConfigError(GatepostError, ValueError):
    """The configuration (file, scenario or command) is invalid."""


class DeviceError(GatepostError, OSError):
    """A device is missing, unplugged or answered wrongly."""


class DeviceClosedError(DeviceError):
    """A closed device was used."""


class ModelError(GatepostError, FileNotFoundError):
    """A configured model file is missing, corrupt or failed to load."""


class EnrolmentError(GatepostError, ValueError):
    """A photo or folder could not be enrolled; nothing was stored."""


class StorageError(GatepostError, OSError):
    """The state database could not be opened or written."""
