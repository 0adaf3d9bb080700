"""forcegate: let a Python web service trust calls that come from Salesforce orgs."""

from forcegate._deprecation import ForcegateDeprecationWarning
from forcegate._security import ForcegateSecurityWarning

__version__ = "0.1.0"

__all__ = ["ForcegateDeprecationWarning", "ForcegateSecurityWarning", "__version__"]
