"""`python -m streamgauge` runs the command line."""

from streamgauge.cli import main

raise SystemExit(main())
