import sys

from seqbook.grading.core import main

sys.exit(main())
