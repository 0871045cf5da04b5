"""crmsync: two-way sync between Salesforce, HubSpot and Dataverse."""

__version__ = "0.1.0"
