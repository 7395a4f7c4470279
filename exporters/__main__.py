"""``python -m exporters --spec SPEC.json --out DIR``: the isolated export worker."""

import os
import sys

from exporters.worker import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
# Everything is written (result.json is fsynced, the event stream flushed): skip the
# interpreter's teardown of torch and friends, which costs about half a second.
os._exit(code)
