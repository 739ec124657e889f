"""python -m greenkit.zoo train NAME | list"""

from greenkit.zoo import main

raise SystemExit(main())
