from devbox.cli import main

raise SystemExit(main())
