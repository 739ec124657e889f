"""python -m greenkit.zoo train NAME | list  (an alias of ``greenkit zoo ...``)"""

from greenkit.zoo.training import main

raise SystemExit(main())
