"""forcegate: let a Python web service trust calls that come from Salesforce orgs."""

__version__ = "0.1.0"

__all__ = ["__version__"]
