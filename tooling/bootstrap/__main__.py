"""The bootstrap program (its own Pulumi project, tooling/bootstrap/Pulumi.yaml): run from this
directory with a local file backend. The repository root holds the shared components."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tooling.bootstrap.program import main

main()
