"""Entry point of `python -m libs.events.schemas`."""

import sys

from libs.events.schema_export import main

sys.exit(main())
