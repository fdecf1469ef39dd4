"""Every rule of the pack, grouped by domain."""

from .baseline import RULES as BASELINE
from .cache import RULES as CACHE
from .containers import RULES as CONTAINERS
from .database import RULES as DATABASE
from .database_access import RULES as DATABASE_ACCESS
from .edge import RULES as EDGE
from .exposure import RULES as EXPOSURE
from .governance import RULES as GOVERNANCE
from .hardening import RULES as HARDENING
from .iam import RULES as IAM
from .irsa import RULES as IRSA
from .kubernetes import RULES as KUBERNETES
from .load_balancing import RULES as LOAD_BALANCING
from .messaging import RULES as MESSAGING
from .network import RULES as NETWORK
from .pipeline import RULES as PIPELINE
from .resource_policies import RULES as RESOURCE_POLICIES
from .security import RULES as SECURITY
from .storage import RULES as STORAGE
from .workloads import RULES as WORKLOADS

POLICIES = [
    *STORAGE,
    *NETWORK,
    *LOAD_BALANCING,
    *CONTAINERS,
    *DATABASE,
    *DATABASE_ACCESS,
    *KUBERNETES,
    *PIPELINE,
    *EDGE,
    *SECURITY,
    *IAM,
    *IRSA,
    *RESOURCE_POLICIES,
    *GOVERNANCE,
    *EXPOSURE,
    *WORKLOADS,
    *HARDENING,
    *MESSAGING,
    *CACHE,
    *BASELINE,
]
