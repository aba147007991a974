"""Hardware drivers: each one interface, a real implementation and a simulated twin.

Nothing here touches hardware at import time; devices open in their constructors.
"""
