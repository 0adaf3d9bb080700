"""Acme orders: an ISV's own Django project that trusts calls from Salesforce through forcegate."""
