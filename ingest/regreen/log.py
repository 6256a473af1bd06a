"""regreen logs through one named logger; only the CLI configures where it goes (stderr)."""

import logging

logger = logging.getLogger("regreen")
