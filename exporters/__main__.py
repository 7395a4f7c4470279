"""``python -m exporters --spec SPEC.json --out DIR``: the isolated export worker."""

import sys

from exporters.worker import main

sys.exit(main())
