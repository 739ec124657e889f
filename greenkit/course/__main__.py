"""python -m greenkit.course generate [LAB ...] | roundtrip LAB  (an alias of ``greenkit course ...``)"""

import os

from greenkit.course.generation import main

os.environ.setdefault("PYTHONUNBUFFERED", "1")
raise SystemExit(main())
