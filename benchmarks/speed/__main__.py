import sys

from benchmarks.speed.run_all import main

sys.exit(main())
