"""``python -m medgan_helpers.evaluation RUN_DIR``: evaluate a saved run (see ``on_runs.main``)."""

from medgan_helpers.evaluation.on_runs import main

raise SystemExit(main())
