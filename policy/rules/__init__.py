"""Every rule of the pack, grouped by domain."""

from .containers import RULES as CONTAINERS
from .database import RULES as DATABASE
from .edge import RULES as EDGE
from .governance import RULES as GOVERNANCE
from .kubernetes import RULES as KUBERNETES
from .load_balancing import RULES as LOAD_BALANCING
from .network import RULES as NETWORK
from .pipeline import RULES as PIPELINE
from .security import RULES as SECURITY
from .storage import RULES as STORAGE

POLICIES = [
    *STORAGE,
    *NETWORK,
    *LOAD_BALANCING,
    *CONTAINERS,
    *DATABASE,
    *KUBERNETES,
    *PIPELINE,
    *EDGE,
    *SECURITY,
    *GOVERNANCE,
]
