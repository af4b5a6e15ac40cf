from critic.cli import main

raise SystemExit(main())
