"""``python -m tfc_swin``: the command line."""
import sys

from tfc_swin.cli import main

sys.exit(main())
