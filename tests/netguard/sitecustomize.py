"""Loaded by every Python process the tests start (PYTHONPATH): installs the network guard."""

import os

if os.environ.get("SLIPWAY_BLOCK_NETWORK") == "1":
    from slipway_netguard import install

    install()
