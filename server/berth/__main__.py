from berth.frontends.cli.main import main

raise SystemExit(main())
